"""Cluster config (TOML) validation and CURVE key files: generation, permissions, loading."""

import os
import stat

import pytest
import zmq.auth
from click.testing import CliRunner

from spp_runtime.cli.main import cli
from spp_runtime.config import EMBEDDED, load, load_default, parse
from spp_runtime.errors import ConfigError
from spp_runtime.keys import generate, load_pair, load_public

MINIMAL = """
[parties.p0]
host = "127.0.0.1"
port = 5000
[parties.p1]
host = "127.0.0.1"
port = 5001
[parties.p2]
host = "127.0.0.1"
port = 5002
"""


def test_embedded_default_is_loopback_with_keys_under_the_run_dir(tmp_path):
    cfg = load_default(tmp_path)
    assert cfg.source == EMBEDDED
    assert [p.host for p in cfg.parties] == ["127.0.0.1"] * 3
    assert len({p.port for p in cfg.parties}) == 3
    assert cfg.key_dir == tmp_path.resolve() / "keys"
    assert cfg.parties[1].secret_key == tmp_path.resolve() / "keys" / "p1.key_secret"
    assert cfg.default_client in cfg.allowed_clients
    assert cfg.frac_bits == 16 and cfg.timeouts.heartbeat_timeout_s <= 3


def test_minimal_config_gets_defaults_and_relative_paths(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(MINIMAL)
    cfg = load(f)
    assert cfg.parties[2].connect_url == "tcp://127.0.0.1:5002"
    assert cfg.parties[2].bind_url == "tcp://127.0.0.1:5002"
    assert cfg.key_dir == tmp_path / "keys" and cfg.data_dir == tmp_path / "data"
    assert cfg.max_message_bytes == 256 << 20 and cfg.allowed_clients == ()
    assert cfg.limits.max_header_bytes == 256 << 10 and cfg.limits.max_job_elements == 1 << 22
    assert cfg.limits.max_pending_requests == 16 and cfg.limits.max_stored_bytes_per_owner == 64 << 30
    moved = cfg.with_ports((7000, 7001, 7002))
    assert [p.port for p in moved.parties] == [7000, 7001, 7002]


def test_example_configs_parse():
    root = os.path.join(os.path.dirname(__file__), "..", "configs")
    for name in sorted(os.listdir(root)):
        if name.endswith(".toml"):
            cfg = load(os.path.join(root, name))
            assert len(cfg.parties) == 3, name


@pytest.mark.parametrize(
    "text, field",
    [
        (MINIMAL.replace("port = 5001", "port = 70000"), "parties.p1.port"),
        (MINIMAL.replace("port = 5001", 'port = "x"'), "parties.p1.port"),
        (MINIMAL.replace("port = 5001", "port = 5000"), "parties.p1.port"),
        (MINIMAL.replace('[parties.p2]\nhost = "127.0.0.1"\nport = 5002', ""), "parties.p2"),
        (MINIMAL.replace('host = "127.0.0.1"\nport = 5000', 'port = 5000'), "parties.p0.host"),
        (MINIMAL + "\n[parties.p3]\nhost='a'\nport=1\n", "parties.p3"),
        ("frac_bits = 60\n" + MINIMAL, "frac_bits"),
        ("colour = 1\n" + MINIMAL, "colour"),
        ("[timeouts]\nrecv_s = -1\n" + MINIMAL, "timeouts.recv_s"),
        ("[timeouts]\nheartbeat_s = 5\nheartbeat_timeout_s = 2\n" + MINIMAL, "timeouts.heartbeat_timeout_s"),
        ("[clients]\nallowed = ['a b']\n" + MINIMAL, "clients.allowed"),
        ("[clients]\nallowed = ['a']\ndefault = 'b'\n" + MINIMAL, "clients.default"),
        ("[keys]\ndir = 3\n" + MINIMAL, "keys.dir"),
        ("[limits]\nmax_message_mb = 0\n" + MINIMAL, "limits.max_message_mb"),
        ("[limits]\nmax_header_kb = inf\n" + MINIMAL, "limits.max_header_kb"),
        ("[limits]\nmax_job_elements = 1.5\n" + MINIMAL, "limits.max_job_elements"),
        ("[limits]\nmax_pending_requests = 0\n" + MINIMAL, "limits.max_pending_requests"),
        ("[limits]\nmax_stored_gb_per_owner = nan\n" + MINIMAL, "limits.max_stored_gb_per_owner"),
        ("[limits]\nmax_jobs = 3\n" + MINIMAL, "limits.max_jobs"),
    ],
)
def test_validation_errors_name_file_and_field(text, field):
    with pytest.raises(ConfigError) as err:
        parse(text, source="my.toml", base_dir=os.getcwd())
    assert str(err.value).startswith(f"my.toml: {field}:"), str(err.value)


def test_unreadable_and_invalid_toml_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: cannot read"):
        load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[parties\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load(bad)


def test_generated_keys_are_curve_pairs_with_private_files_0600(tmp_path):
    written = generate(tmp_path / "k", ["p0", "alice"])
    assert len(written) == 4
    for name in ("p0", "alice"):
        sec = tmp_path / "k" / f"{name}.key_secret"
        assert stat.S_IMODE(sec.stat().st_mode) == 0o600
        pair = load_pair(sec)
        assert pair.public == load_public(tmp_path / "k" / f"{name}.key")
        assert zmq.curve_public(pair.secret) == pair.public  # the pair belongs together
        assert zmq.auth.load_certificate(str(sec)) == (pair.public, pair.secret)
        assert pair.secret.decode() not in repr(pair)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700


def test_keys_are_not_overwritten_without_force_and_bad_files_are_refused(tmp_path):
    generate(tmp_path, ["p0"])
    old = load_public(tmp_path / "p0.key")
    with pytest.raises(ConfigError, match="exists; pass --force"):
        generate(tmp_path, ["p0"])
    generate(tmp_path, ["p0"], force=True)
    assert load_public(tmp_path / "p0.key") != old
    os.chmod(tmp_path / "p0.key_secret", 0o644)
    with pytest.raises(ConfigError, match="accessible by other users.*chmod 600"):
        load_pair(tmp_path / "p0.key_secret")
    with pytest.raises(ConfigError, match="holds no secret key"):
        os.chmod(tmp_path / "p0.key", 0o600)
        load_pair(tmp_path / "p0.key")
    (tmp_path / "junk.key").write_text("hello\n")
    with pytest.raises(ConfigError, match="junk.key"):
        load_public(tmp_path / "junk.key")
    with pytest.raises(ConfigError, match="not found"):
        load_pair(tmp_path / "missing.key_secret")
    with pytest.raises(ConfigError, match="invalid key name"):
        generate(tmp_path, ["../evil"])


def test_keys_generate_command(tmp_path):
    res = CliRunner().invoke(cli, ["keys", "generate", "--dir", str(tmp_path / "k"), "--client", "ana"])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "k").iterdir())
    assert names == sorted(f"{n}{ext}" for n in ("p0", "p1", "p2", "ana") for ext in (".key", ".key_secret"))
    again = CliRunner().invoke(cli, ["keys", "generate", "--dir", str(tmp_path / "k")])
    assert again.exit_code != 0 and "--force" in again.output
