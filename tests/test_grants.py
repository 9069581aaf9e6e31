"""Owners decide who computes on their data: grants, per-client checkpoints, pending uploads
and digests, over real ``spp server`` processes with two client keys, ``owner`` and ``analyst``.

Every attack of issue 13 is tried as the analyst and must be refused by the servers, fast
and naming the dataset and the missing grant; ``train`` / ``infer`` / ``release-model`` work
only with the matching grant held by both primaries, across a restart, and stop at revoke.
"""

import stat
import time

import numpy as np
import pytest
import tomli_w
import zmq
from click.testing import CliRunner

from spp_runtime.api import messages
from spp_runtime.cli.main import cli
from spp_runtime.client import Client, JobFailed
from spp_runtime.client.remote_store import RemoteStore, list_datasets, list_models, upload
from spp_runtime.config import load
from spp_runtime.data.readers import Dataset
from spp_runtime.keys import generate, load_pair, load_public
from spp_runtime.launch import local as cl
from spp_runtime.launch.files import free_ports
from spp_runtime.nn.model import model_from_dict
from spp_runtime.nn.programs import PARAM
from spp_runtime.nn.runner import Hyper
from spp_runtime.sharing import share
from spp_runtime.storage.errors import AccessDenied
from spp_runtime.storage.meta import UploadMeta, new_upload_id

pytestmark = pytest.mark.network
FAST_S = 1.0  # a refusal comes back in well under a second
ROWS, COLS, CLASSES = 24, 6, 3
TINY = model_from_dict({"name": "tiny", "inputs": COLS, "layers": [{"type": "dense", "units": CLASSES}],
                        "output": "softmax"})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three servers accepting the client keys ``owner`` and ``analyst``; the owner has
    uploaded ``owner-data`` (features and labels)."""
    d = tmp_path_factory.mktemp("grants")
    generate(d / "keys", ["p0", "p1", "p2", "owner", "analyst"])
    ports = free_ports(3)
    raw = {
        "keys": {"dir": "keys"},
        "clients": {"allowed": ["owner", "analyst"], "default": "owner"},
        "timeouts": {"recv_s": 10, "connect_s": 5, "job_s": 60, "heartbeat_s": 0.3, "heartbeat_timeout_s": 1.5},
        "parties": {f"p{i}": {"host": "127.0.0.1", "port": ports[i]} for i in range(3)},
    }
    path = d / "cluster.toml"
    path.write_text(tomli_w.dumps(raw))
    cfg = load(path)
    cl.up(d / "run", path)
    rng = np.random.default_rng(13)
    x = rng.normal(0, 1, (ROWS, COLS))
    y = rng.integers(0, CLASSES, ROWS).astype(float)
    try:
        with Client(cfg, _key(cfg, "owner")) as c:
            upload(c, Dataset(x, y, "mem"), "owner-data")
        yield cfg, d, x, y
    finally:
        cl.down(d / "run")


def _key(cfg, name):
    return load_pair(cfg.client_secret_key(name))


@pytest.fixture
def owner(cluster):
    with Client(cluster[0], _key(cluster[0], "owner")) as c:
        yield c


@pytest.fixture
def analyst(cluster):
    with Client(cluster[0], _key(cluster[0], "analyst")) as c:
        c.connect()
        yield c


def _refused(client, program, inputs=None, params=None, **kw) -> JobFailed:
    """Run a job that must be refused; check every server refused it and that it was fast."""
    t0 = time.perf_counter()
    with pytest.raises(JobFailed) as info:
        client.run(program, inputs, params, timeout=20, **kw)
    elapsed = time.perf_counter() - t0
    assert elapsed < FAST_S, f"refusal took {elapsed:.2f} s"
    assert set(info.value.errors) == {"p0", "p1", "p2"}, info.value.errors
    return info.value


def _infer(client, y=True):
    weights = {f"{PARAM}{k}": v for k, v in TINY.init_params(3).items()}
    ds = {"x": "owner-data:x"} | ({"y": "owner-data:y"} if y else {})
    return client.run("infer", weights, {"model": TINY.to_dict(), "batch": 1}, datasets=ds, timeout=60)


def _train(client):
    hyper = Hyper.of(TINY, epochs=1, batch_size=8, lr=0.1, momentum=0.0, seed=2)
    init = {f"{PARAM}{k}": v for k, v in TINY.init_params(hyper.seed).items()}
    params = {"model": TINY.to_dict(), "hyper": hyper.kwargs(), "report_accuracy": False}
    return client.run("train", init, params, datasets={"x": "owner-data:x", "y": "owner-data:y"}, timeout=60)


def _grant_on(client, party, allow):
    RemoteStore(client, party).grant("owner-data", "analyst", allow)


def _revoke_on(client, party):
    RemoteStore(client, party).revoke("owner-data", "analyst")


# -- the attacks of the issue ---------------------------------------------------------------------
def test_programs_returning_values_of_their_inputs_run_only_on_own_data(cluster, owner, analyst):
    _cfg, _d, x, y = cluster
    eye = np.eye(COLS)
    attacks = [  # each would hand the analyst the owner's features or labels in the clear
        ("dense_scores", {"w": eye, "b": np.zeros(COLS)}, {}, {"x": "owner-data:x"}),
        ("mul", {"y": np.ones(ROWS)}, {}, {"x": "owner-data:y"}),
        ("matmul", {"y": eye}, {}, {"x": "owner-data:x"}),
        ("demo", {"w": eye, "b": np.zeros(COLS)}, {}, {"x": "owner-data:x"}),
        ("column_sums", {}, {}, {"x": "owner-data:x"}),
        ("bench", {"y": eye}, {"case": "matmul"}, {"x": "owner-data:x"}),
    ]
    for grants in (None, "train,infer,release-model"):
        if grants:  # even the widest grant does not open these programs
            for p in (0, 1):
                _grant_on(owner, p, grants.split(","))
        for program, inputs, params, ds in attacks:
            err = _refused(analyst, program, inputs, params, datasets=ds)
            assert err.root == "p0"
            for msg in err.errors.values():
                assert "dataset 'owner-data'" in msg and "runs only on the client's own data" in msg, msg
    for p in (0, 1):
        _revoke_on(owner, p)
    # the owner itself runs them
    res = owner.run("dense_scores", {"w": eye, "b": np.zeros(COLS)}, datasets={"x": "owner-data:x"})
    np.testing.assert_allclose(res.outputs["scores"], x, atol=1e-3)
    np.testing.assert_allclose(owner.run("mul", {"y": np.ones(ROWS)}, datasets={"x": "owner-data:y"}).outputs["out"],
                               y, atol=1e-3)


def test_infer_needs_the_infer_grant_on_both_primaries_and_stops_at_revoke(cluster, owner, analyst):
    err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
    assert all("lacks the infer grant" in m and "'owner-data'" in m for m in err.errors.values()), err.errors
    assert "spp grant --dataset owner-data --to analyst --allow infer" in err.errors["p0"]
    _grant_on(owner, 0, ["train"])  # the wrong right
    _grant_on(owner, 1, ["train"])
    err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
    assert "lacks the infer grant on p0 (it holds train)" in err.errors["p0"]

    _grant_on(owner, 0, ["infer"])  # on p0 only: p1 refuses from its own store
    err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
    assert err.root == "p1" and "lacks the infer grant on p1" in err.errors["p1"], err.errors
    _grant_on(owner, 1, ["infer"])
    _revoke_on(owner, 0)  # on p1 only: p0 refuses
    err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
    assert err.root == "p0" and "lacks the infer grant on p0" in err.errors["p0"], err.errors

    _grant_on(owner, 0, ["infer"])  # on both: it runs
    res = _infer(analyst)
    assert res.outputs["scores"].shape == (ROWS, CLASSES)
    assert len(res.top("reveal")) == 1  # batch 1, yet the correct count is opened once, in total
    assert 0 <= int(res.outputs["correct"][0]) <= ROWS

    _revoke_on(owner, 1)  # a revocation on either primary stops new jobs at once
    err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
    assert err.root == "p1"
    _revoke_on(owner, 0)


INFER_DS = {"x": "owner-data:x", "y": "owner-data:y"}


def _infer_args():
    weights = {f"{PARAM}{k}": v for k, v in TINY.init_params(3).items()}
    return weights, {"model": TINY.to_dict(), "batch": 1}


def test_train_needs_train_and_release_model(cluster, owner, analyst):
    hyper = Hyper.of(TINY, epochs=1, batch_size=8, lr=0.1, momentum=0.0, seed=2)
    init = {f"{PARAM}{k}": v for k, v in TINY.init_params(hyper.seed).items()}
    params = {"model": TINY.to_dict(), "hyper": hyper.kwargs(), "report_accuracy": False}
    ds = {"x": "owner-data:x", "y": "owner-data:y"}
    err = _refused(analyst, "train", init, params, datasets=ds)
    assert "lacks the train,release-model grant on p0" in err.errors["p0"], err.errors
    for p in (0, 1):
        _grant_on(owner, p, ["train", "infer"])
    err = _refused(analyst, "train", init, params, datasets=ds)
    assert "lacks the release-model grant on p0 (it holds train,infer)" in err.errors["p0"], err.errors
    for p in (0, 1):
        _grant_on(owner, p, ["train", "release-model"])
    res = _train(analyst)
    weights = {k: v.shape for k, v in res.outputs.items() if k.startswith(PARAM)}
    assert weights == {f"{PARAM}{k}": v.shape for k, v in TINY.init_params(0).items()}
    # the owner trains on its own data without any grant
    for p in (0, 1):
        _revoke_on(owner, p)
    assert set(_train(owner).outputs) == set(res.outputs)
    _refused(analyst, "train", init, params, datasets=ds)


def test_grants_survive_a_restart(cluster):
    cfg, d, _x, _y = cluster
    with Client(cfg, _key(cfg, "owner")) as owner:
        for p in (0, 1):
            _grant_on(owner, p, ["infer"])
    cl.down(d / "run")
    cl.up(d / "run", d / "cluster.toml")
    with Client(cfg, _key(cfg, "analyst")) as analyst:
        assert _infer(analyst).outputs["scores"].shape == (ROWS, CLASSES)
    with Client(cfg, _key(cfg, "owner")) as owner:
        for p in (0, 1):
            _revoke_on(owner, p)
    cl.down(d / "run")
    cl.up(d / "run", d / "cluster.toml")
    with Client(cfg, _key(cfg, "analyst")) as analyst:
        analyst.connect()
        err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
        assert "lacks the infer grant" in err.errors["p0"]


# -- checkpoints, pending uploads, digests -------------------------------------------------------
def test_checkpoints_are_kept_per_client(cluster, owner, analyst):
    cfg, _d, x, _y = cluster
    mine = np.arange(12.0).reshape(4, 3)
    upload(analyst, Dataset(mine, None, "mem"), "analyst-data")
    r1 = owner.run("column_sums", datasets={"x": "owner-data:x"}, checkpoint="run-1")
    r2 = owner.run("column_sums", datasets={"x": "owner-data:x"}, checkpoint="run-1")
    np.testing.assert_allclose(r2.outputs["acc"], 2 * x.sum(axis=0), atol=1e-3)
    # the analyst uses the same checkpoint id: it gets its own, fresh checkpoint, not the owner's
    a1 = analyst.run("column_sums", datasets={"x": "analyst-data:x"}, checkpoint="run-1")
    np.testing.assert_allclose(a1.outputs["acc"], mine.sum(axis=0), atol=1e-3)
    # ... and it did not overwrite the owner's: the owner resumes from its own total
    r3 = owner.run("column_sums", datasets={"x": "owner-data:x"}, checkpoint="run-1")
    np.testing.assert_allclose(r3.outputs["acc"], 3 * x.sum(axis=0), atol=1e-3)
    assert r1.outputs["acc"].shape == (COLS,)
    for p in ("p0", "p1"):
        root = cfg.store_dir(int(p[1])) / "checkpoints"
        assert sorted(q.name for q in root.iterdir()) == ["analyst", "owner"]


def test_pending_uploads_are_seen_and_touched_by_their_uploader_only(cluster, owner, analyst):
    meta = UploadMeta(new_upload_id(), "owner-pending", "ignored", 16, 4, 4, {"x": (2,)})
    for p in (0, 1):
        RemoteStore(owner, p).begin(meta)
    uid = meta.upload_id
    try:
        for p in (0, 1):
            _, theirs = RemoteStore(analyst, p).list_all()
            _, mine = RemoteStore(owner, p).list_all()
            assert uid not in [u for u, _, _ in theirs] and uid in [u for u, _, _ in mine]
            digest = {"x": "0" * 64}
            attempts = [  # every upload request naming the owner's upload id
                ("upload.abort", {"upload_id": uid}, None),
                ("upload.abort", {"upload_id": uid, "unless_committed": True}, None),
                ("upload.prepare", {"upload_id": uid, "sha256": digest}, None),
                ("upload.commit", {"upload_id": uid}, None),
                ("upload.status", {"upload_id": uid}, None),
                ("upload.begin", {"meta": meta.to_dict()}, None),
                ("upload.chunk", {"upload_id": uid, "index": 0, "sha256": digest}, {"x": np.zeros((4, 2), np.uint64)}),
            ]
            for kind, fields, arrays in attempts:
                t0 = time.perf_counter()
                with pytest.raises(AccessDenied, match=f"upload {uid} was begun by another client"):
                    analyst.request(p, kind, fields, arrays)
                assert time.perf_counter() - t0 < FAST_S
            assert owner.request(p, "upload.status", {"upload_id": uid})["status"] == "receiving"
    finally:
        for p in (0, 1):
            assert RemoteStore(owner, p).abort(uid)


def test_digests_are_shown_to_the_owner_only(cluster, owner, analyst):
    cfg = cluster[0]
    for p in (0, 1):
        assert RemoteStore(analyst, p).show("owner-data").sha256 == {}
        assert set(RemoteStore(owner, p).show("owner-data").sha256) == {"x", "y"}
        with pytest.raises(AccessDenied, match="only its owner may re-hash it"):
            RemoteStore(analyst, p).show("owner-data", verify=True)
        with pytest.raises(AccessDenied, match="only its owner may delete it"):
            RemoteStore(analyst, p).delete("owner-data")
    seen = {v.name: v for v in list_datasets(analyst)}
    assert seen["owner-data"].manifest.sha256 == {} and seen["owner-data"].manifest.owner == "owner"
    out = _spp("datasets", "show", "owner-data", "--config", cfg.source, "--key", "analyst")
    assert out.exit_code == 0 and "sha256" not in out.output and "owner owner" in out.output
    out = _spp("datasets", "show", "owner-data", "--config", cfg.source, "--key", "owner")
    assert out.exit_code == 0 and out.output.count("sha256") == 4


# -- the commands ------------------------------------------------------------------------------------
def _spp(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_grant_revoke_and_grants_commands(cluster, analyst):
    cfg = cluster[0]
    conf = ["--config", cfg.source]
    r = _spp("grant", "--dataset", "owner-data", "--to", "analyst", "--allow", "infer,train", *conf, "--key", "owner")
    assert r.exit_code == 0 and "Granted train,infer on dataset owner-data to analyst on p0, p1." in r.output, r.output
    r = _spp("grants", *conf, "--key", "owner")
    assert r.exit_code == 0 and "owner-data" in r.output and "train,infer" in r.output and "on p0 and p1" in r.output
    r = _spp("grants", "--dataset", "owner-data", *conf, "--key", "analyst")  # a grantee sees its own grant
    assert r.exit_code == 0 and "analyst" in r.output and "train,infer" in r.output
    assert _infer(analyst).outputs["scores"].shape == (ROWS, CLASSES)

    r = _spp("grant", "--dataset", "owner-data", "--to", "analyst", "--allow", "release-model", *conf, "--key", "analyst")
    assert r.exit_code == 1 and "only its owner may grant or revoke rights on it" in r.output
    r = _spp("grant", "--dataset", "owner-data", "--to", "nobody", "--allow", "infer", *conf, "--key", "owner")
    assert r.exit_code == 1 and "knows no client 'nobody'" in r.output
    r = _spp("grant", "--dataset", "owner-data", "--to", "analyst", "--allow", "everything", *conf, "--key", "owner")
    assert r.exit_code == 2 and "unknown right 'everything'" in r.output
    r = _spp("grant", "--dataset", "no-such", "--to", "analyst", "--allow", "infer", *conf, "--key", "owner")
    assert r.exit_code == 1 and "no dataset named 'no-such'" in r.output

    r = _spp("revoke", "--dataset", "owner-data", "--to", "analyst", *conf, "--key", "owner")
    assert r.exit_code == 0 and "Revoked analyst's rights on dataset owner-data on p0, p1." in r.output, r.output
    err = _refused(analyst, "infer", *_infer_args(), datasets=INFER_DS)
    assert "lacks the infer grant" in err.errors["p0"]
    r = _spp("grants", *conf, "--key", "analyst")
    assert r.exit_code == 0 and "No grants." in r.output


def test_stores_are_private_to_the_server_user(cluster, owner):
    cfg = cluster[0]
    for p in (0, 1):  # grants and checkpoints written by earlier tests live here too
        _grant_on(owner, p, ["infer"])
        _revoke_on(owner, p)
    owner.run("column_sums", datasets={"x": "owner-data:x"}, checkpoint="modes")
    roots = [cfg.store_dir(0), cfg.store_dir(1)]
    assert roots[0] != roots[1]
    seen = {"dir": 0, "file": 0}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            kind = "dir" if path.is_dir() else "file"
            seen[kind] += 1
            assert mode == (0o700 if kind == "dir" else 0o600), f"{path}: {oct(mode)}"
    assert seen["file"] > 10 and seen["dir"] > 6
    assert (roots[0] / "datasets" / "owner-data" / "grants.json").exists()


def test_a_job_is_bound_to_the_client_that_sent_it_to_p0(cluster):
    """The analyst sends p1 and p2 a job under the id of the owner's job at p0: p1 and p2 see
    that p0 announced it for another client and refuse; nothing runs."""
    cfg = cluster[0]
    ring = cfg.fxp.encode(np.ones(4))
    s0, s1 = share(ring)
    frames = [messages.encode_job("same-id-1", "mul", {}, cfg.frac_bits, {"x": (4,), "y": (4,)}, shares)
              for shares in ({"x": s0, "y": s0}, {"x": s1, "y": s1}, None)]
    socks = []
    for party, who in ((1, "analyst"), (2, "analyst"), (0, "owner")):
        kp = _key(cfg, who)
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.curve_publickey, s.curve_secretkey = kp.public, kp.secret
        s.curve_serverkey = load_public(cfg.parties[party].public_key)
        s.linger, s.rcvtimeo = 0, 10_000
        s.connect(cfg.parties[party].connect_url)
        socks.append((party, s))
    try:
        time.sleep(0.3)
        for party, s in socks:
            s.send_multipart(frames[party])
        replies = {party: messages.decode_reply(s.recv_multipart(), server=f"p{party}", max_bytes=1 << 30)
                   for party, s in socks}
    finally:
        for _, s in socks:
            s.close()
    assert all(not r.ok for r in replies.values()), replies
    for party in (1, 2):
        assert f"p{party} received it from another client than p0 did" in replies[party].error


# -- models kept on the servers --------------------------------------------------------------------
TRAIN_DS = {"x": "owner-data:x", "y": "owner-data:y"}


def _train_job(epochs=1):
    hyper = Hyper.of(TINY, epochs=epochs, batch_size=8, lr=0.1, momentum=0.0, seed=2)
    init = {f"{PARAM}{k}": v for k, v in TINY.init_params(hyper.seed).items()}
    return init, {"model": TINY.to_dict(), "hyper": hyper.kwargs(), "report_accuracy": False}


def _model_on_disk(cfg, name):
    """Reconstruct a stored model from both servers' files (test-only, read directly)."""
    out = {}
    for t in TINY.init_params(0):
        s = [np.fromfile(cfg.store_dir(p) / "models" / name / f"{t}.u64", dtype="<u8") for p in (0, 1)]
        out[t] = cfg.fxp.decode(s[0] + s[1]).reshape(TINY.init_params(0)[t].shape)
    return out


def test_a_model_trained_with_the_train_grant_stays_on_the_servers(cluster, owner, analyst):
    cfg = cluster[0]
    init, params = _train_job()
    err = _refused(analyst, "train", init, params, datasets=TRAIN_DS, save_as="analyst-model")
    assert "lacks the train grant on p0" in err.errors["p0"], err.errors
    for p in (0, 1):
        _grant_on(owner, p, ["train"])
    try:
        res = analyst.run("train", init, params, datasets=TRAIN_DS, save_as="analyst-model", timeout=60)
        assert not [k for k in res.outputs if k.startswith(PARAM)]  # no weights came back
        assert [s.name for s in res.top("model.save")] == ["model.save"]
        # the weights may not leave the servers without release-model: --out is refused
        err = _refused(analyst, "train", init, params, datasets=TRAIN_DS)
        assert "lacks the release-model grant on p0 (it holds train)" in err.errors["p0"], err.errors
        # the same name again is refused before anything runs
        err = _refused(analyst, "train", init, params, datasets=TRAIN_DS, save_as="analyst-model")
        assert "a model named 'analyst-model' already exists" in err.errors["p0"]
    finally:
        for p in (0, 1):
            _revoke_on(owner, p)

    # it is the same model the owner trains and takes home (same data, seed and settings)
    released = owner.run("train", init, params, datasets=TRAIN_DS, timeout=60).outputs
    stored = _model_on_disk(cfg, "analyst-model")
    for k, v in stored.items():
        np.testing.assert_allclose(v, released[f"{PARAM}{k}"], atol=5e-3)

    for who in (owner, analyst):  # everyone sees it exists, whose it is and what it came from
        views = {v.name: v for v in list_models(who)}
        m = views["analyst-model"].manifest
        assert views["analyst-model"].complete and m.owner == "analyst" and m.sha256 == {}
        assert {(s.input, s.dataset, s.owner) for s in m.sources} == {("x", "owner-data", "owner"),
                                                                       ("y", "owner-data", "owner")}
        assert m.config["name"] == "tiny" and m.tensors == {k: v.shape for k, v in TINY.init_params(0).items()}
    for p in (0, 1):
        with pytest.raises(AccessDenied, match="only its owner may delete it"):
            RemoteStore(owner, p).delete_model("analyst-model")
    r = _spp("models", "show", "analyst-model", "--config", cfg.source, "--key", "owner")
    assert r.exit_code == 0 and "trained on owner-data:x (x) of owner" in r.output, r.output


def _ensure_analyst_model(owner, analyst) -> None:
    """The model the test above stores (under xdist that test may run on another worker, with
    its own cluster)."""
    if "analyst-model" in {v.name for v in list_models(analyst)}:
        return
    init, params = _train_job()
    for p in (0, 1):
        _grant_on(owner, p, ["train"])
    try:
        analyst.run("train", init, params, datasets=TRAIN_DS, save_as="analyst-model", timeout=60)
    finally:
        for p in (0, 1):
            _revoke_on(owner, p)


def test_model_grants_and_the_model_commands(cluster, owner, analyst):
    cfg = cluster[0]
    _ensure_analyst_model(owner, analyst)
    conf = ["--config", cfg.source]
    r = _spp("grant", "--model", "analyst-model", "--to", "owner", "--allow", "predict", *conf, "--key", "owner")
    assert r.exit_code == 1 and "only its owner may grant or revoke rights on it" in r.output
    r = _spp("grant", "--model", "analyst-model", "--to", "owner", "--allow", "infer", *conf, "--key", "analyst")
    assert r.exit_code == 2 and "a model takes the rights predict" in r.output
    r = _spp("grant", "--model", "analyst-model", "--to", "owner", "--allow", "predict", *conf, "--key", "analyst")
    assert r.exit_code == 0 and "Granted predict on model analyst-model to owner on p0, p1." in r.output, r.output
    r = _spp("grants", "--model", "analyst-model", *conf, "--key", "owner")
    assert r.exit_code == 0 and "predict" in r.output and "analyst-model" in r.output
    r = _spp("models", "list", *conf, "--key", "owner")
    assert r.exit_code == 0 and "analyst-model" in r.output and "complete" in r.output
    r = _spp("models", "delete", "analyst-model", *conf, "--key", "owner")
    assert r.exit_code == 1 and "only its owner may delete it" in r.output
    r = _spp("models", "delete", "analyst-model", *conf, "--key", "analyst")
    assert r.exit_code == 0 and "Deleted model analyst-model from p0, p1." in r.output
    assert not (cfg.store_dir(0) / "models" / "analyst-model").exists()
    r = _spp("models", "show", "analyst-model", *conf, "--key", "analyst")
    assert r.exit_code == 1 and "no model 'analyst-model'" in r.output


def test_a_checkpoint_does_not_carry_weights_into_a_job_with_other_rights(cluster, owner, analyst):
    """Weights trained under a train grant, checkpointed, must not come back through a job
    that returns them: neither on the owner's data (release-model missing) nor by resuming
    the checkpoint in a job over the analyst's own data."""
    rng = np.random.default_rng(3)
    upload(analyst, Dataset(rng.normal(0, 1, (8, COLS)), rng.integers(0, CLASSES, 8).astype(float), "mem"),
           "analyst-rows")
    init, params = _train_job(epochs=1)
    for p in (0, 1):
        _grant_on(owner, p, ["train"])
    try:
        analyst.run("train", init, params, datasets=TRAIN_DS, save_as="laundry", checkpoint="c1", timeout=60)
        _refused(analyst, "train", init, params, datasets=TRAIN_DS, checkpoint="c1")
        own = {"x": "analyst-rows:x", "y": "analyst-rows:y"}
        res = analyst.run("train", init, params, datasets=own, checkpoint="c1", timeout=60)
        assert int(res.outputs["start_epoch"][0]) == 0  # started afresh: nothing resumed
    finally:
        for p in (0, 1):
            _revoke_on(owner, p)
        analyst.request(0, "models.delete", {"name": "laundry"})
        analyst.request(1, "models.delete", {"name": "laundry"})
