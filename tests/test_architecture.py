"""The import graph of ``spp_runtime`` follows the module table in ``docs/ARCHITECTURE.md``.

The table lists every module in dependency order, lowest first. This test parses every
source file (imports inside functions included), resolves each import to a module of the
package, and fails on a module the table does not list, an import of a module in a later
row (an upward import), or any cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "spp_runtime"
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _table_lines() -> list[str]:
    text = DOC.read_text()
    section = text.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines()
            if line.startswith("|") and not set(line) <= set("|- ") and re.search(r"`[^`]+`", line.split("|")[1])]


def _table_rows() -> list[list[str]]:
    """The module table's first column: one list of path entries (``x.py`` or ``pkg/``) per row."""
    text = DOC.read_text()
    section = text.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= set("- "):
            continue
        entries = re.findall(r"`([^`]+)`", cells[0])
        if entries:
            rows.append(entries)
    return rows


def _rank_of() -> dict[str, int]:
    """Module -> its row; the most specific entry wins (``engine/context.py`` over ``engine/``)."""
    rows = _table_rows()
    rank: dict[str, int] = {}
    specificity: dict[str, int] = {}
    mods = _modules()
    for i, entries in enumerate(rows):
        for entry in entries:
            if entry.endswith(".py"):
                dotted = "spp_runtime." + entry[:-3].replace("/", ".")
                if entry == "__init__.py":
                    dotted = "spp_runtime"
                matches = [dotted] if dotted in mods else []
            else:
                prefix = "spp_runtime." + entry.rstrip("/").replace("/", ".")
                matches = [m for m in mods if m == prefix or m.startswith(prefix + ".")]
            assert matches, f"ARCHITECTURE.md lists `{entry}`, which is no module of spp_runtime"
            for m in matches:
                spec = len(entry) + (1000 if entry.endswith(".py") else 0)
                if spec >= specificity.get(m, -1):
                    rank[m], specificity[m] = i, spec
    return rank


def _resolve(importer: str, is_pkg: bool, node: ast.ImportFrom | ast.Import, mods: dict[str, Path]) -> set[str]:
    targets: set[str] = set()
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        for n in names:
            while n and n not in mods:
                n = n.rpartition(".")[0]
            if n.startswith("spp_runtime"):
                targets.add(n)
        return targets
    if node.level:
        base = importer.split(".") if is_pkg else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if not prefix.startswith("spp_runtime"):
        return targets
    for alias in node.names:
        sub = f"{prefix}.{alias.name}"
        if sub in mods:
            targets.add(sub)
        else:
            p = prefix
            while p and p not in mods:
                p = p.rpartition(".")[0]
            if p:
                targets.add(p)
    return targets


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _resolve(name, path.name == "__init__.py", node, mods)
        edges.discard(name)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_every_module_is_in_the_architecture_table() -> None:
    rank = _rank_of()
    missing = sorted(set(_modules()) - set(rank))
    assert not missing, f"modules missing from docs/ARCHITECTURE.md's table: {missing}"


def test_every_module_is_named_in_its_row() -> None:
    """Not just its package: each file is named (backticked) in the row that places it."""
    rank = _rank_of()
    lines = _table_lines()
    unnamed = []
    for module, path in _modules().items():
        if path.name == "__init__.py" and module != "spp_runtime":
            continue
        if f"`{path.name}`" not in lines[rank[module]] and f"`{path.parent.name}/{path.name}`" not in lines[rank[module]]:
            unnamed.append(f"{path.relative_to(ROOT)} (row {rank[module]})")
    assert not unnamed, "modules not named in their row of docs/ARCHITECTURE.md: " + ", ".join(sorted(unnamed))


def test_imports_run_down_the_table_only() -> None:
    rank = _rank_of()
    upward = [
        f"{a} (row {rank[a]}) imports {b} (row {rank[b]})"
        for a, targets in sorted(import_graph().items())
        for b in sorted(targets)
        if a in rank and b in rank and rank[b] > rank[a]
    ]
    assert not upward, "imports against the documented order:\n" + "\n".join(upward)


def test_every_import_names_a_module_that_exists() -> None:
    """An import of a moved or deleted module fails here, before any test imports it."""
    mods = _modules()
    missing = []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("spp_runtime")):
                if node.level:
                    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target not in mods:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {target}")
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(missing)


def test_the_import_graph_has_no_cycle() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("source, expected", [
    ("from ..protocols import compare", {"spp_runtime.protocols.compare"}),
    ("from .. import ring", {"spp_runtime.ring"}),
    ("import spp_runtime.ring as r", {"spp_runtime.ring"}),
    ("from ..ring import matmul", {"spp_runtime.ring"}),
])
def test_the_checker_resolves_imports(source: str, expected: set[str]) -> None:
    """The checker itself: relative, absolute and from-imports resolve to the right module."""
    mods = _modules()
    node = ast.parse(source).body[0]
    assert isinstance(node, (ast.Import, ast.ImportFrom))
    assert _resolve("spp_runtime.nn.ops", False, node, mods) == expected


def test_the_checker_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
