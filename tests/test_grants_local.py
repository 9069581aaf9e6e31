"""The access rules in process: a stored model carries the grants of the data it was trained
on (``authorize_model``, the check a prediction program runs), grant files fail closed, and
programs declare their rights (the network behaviour is in ``test_grants.py``)."""

import json
from pathlib import Path

import numpy as np
import pytest
from storage_helpers import make_upload, upload_one

from spp_runtime.apps import PROGRAMS
from spp_runtime.config import load, load_default, parse
from spp_runtime.errors import ConfigError
from spp_runtime.server.storage_service import StorageService
from spp_runtime.storage import grants as grant_files
from spp_runtime.storage.errors import AccessDenied
from spp_runtime.storage.models import Source
from spp_runtime.storage.store import ShareStore

CONFIG = """
[clients]
allowed = ["owner", "analyst", "third"]
[parties.p0]
host = "127.0.0.1"
port = 1
[parties.p1]
host = "127.0.0.1"
port = 2
[parties.p2]
host = "127.0.0.1"
port = 3
"""


@pytest.fixture
def service(tmp_path, rng):
    """P0's storage service with the owner's dataset and the analyst's model trained on it."""
    cfg = parse(CONFIG, source="test", base_dir=tmp_path)
    svc = StorageService(cfg, 0, lambda peer, body: None)
    m = upload_one(svc.store, make_upload(rng, name="data", owner="owner"))
    sources = [Source("x", "data", "x", "owner", m.upload_id), Source("y", "data", "y", "owner", m.upload_id)]
    svc.models.save("m1", owner="analyst", model_id="job-1", frac_bits=16, shares={"0.W": np.zeros((3, 2), np.uint64)},
                    config={"name": "tiny"}, sources=sources)
    return svc


def _handle(svc, kind, client, **fields):
    return svc.handle(kind, fields, [], client)


def test_a_model_answers_only_clients_every_data_owner_granted_infer(service):
    # the trainer owns the model, but the data owner has not granted it infer
    with pytest.raises(AccessDenied, match=r"dataset 'data' of 'owner': client 'analyst' lacks the infer grant"):
        service.authorize_model("analyst", "m1")
    _handle(service, "grants.set", "owner", dataset="data", grantee="analyst", allow=["infer"])
    assert service.authorize_model("analyst", "m1").owner == "analyst"
    # a third client needs the model owner's predict grant and the data owner's infer grant
    with pytest.raises(AccessDenied, match=r"model 'm1' of 'analyst': client 'third' lacks the predict grant"):
        service.authorize_model("third", "m1")
    _handle(service, "grants.set", "analyst", model="m1", grantee="third", allow=["predict"])
    with pytest.raises(AccessDenied, match=r"client 'third' lacks the infer grant"):
        service.authorize_model("third", "m1")
    _handle(service, "grants.set", "owner", dataset="data", grantee="third", allow=["infer"])
    service.authorize_model("third", "m1")
    # the data owner can stop every use of models trained on its data by revoking infer
    _handle(service, "grants.revoke", "owner", dataset="data", grantee="third")
    with pytest.raises(AccessDenied, match="lacks the infer grant"):
        service.authorize_model("third", "m1")
    # the data owner itself may query only with the model owner's predict grant
    with pytest.raises(AccessDenied, match="client 'owner' lacks the predict grant"):
        service.authorize_model("owner", "m1")


def test_a_model_of_a_replaced_upload_answers_nobody(service, rng):
    _handle(service, "grants.set", "owner", dataset="data", grantee="analyst", allow=["infer"])
    service.store.delete("data")
    upload_one(service.store, make_upload(rng, name="data", owner="owner"))
    with pytest.raises(AccessDenied, match="trained on an earlier upload of dataset 'data'"):
        service.authorize_model("analyst", "m1")
    # and the old grant did not survive into the new upload of the same name
    assert service.store.grants("data")[1] == {}


def test_grant_files_fail_closed(service):
    _handle(service, "grants.set", "owner", dataset="data", grantee="analyst", allow=["train", "infer"])
    ddir = service.store.root / "datasets" / "data"
    manifest, given = service.store.grants("data")
    assert given["analyst"].allow == {"train", "infer"}
    raw = json.loads((ddir / "grants.json").read_text())
    for damage in ("{not json", json.dumps({**raw, "object_id": "0" * 32}),
                   json.dumps({**raw, "grants": {"analyst": {"allow": ["everything"], "granted": "x"}}})):
        (ddir / "grants.json").write_text(damage)
        assert grant_files.read(ddir, manifest.upload_id) == {}
        with pytest.raises(AccessDenied, match="lacks the infer grant"):
            service.authorize("analyst", "data", frozenset({"infer"}), "infer")
    # the owner is never locked out, and its next grant rewrites the file
    service.authorize("owner", "data", None, "mul")
    _handle(service, "grants.set", "owner", dataset="data", grantee="analyst", allow=["infer"])
    service.authorize("analyst", "data", frozenset({"infer"}), "infer")


def test_programs_declare_the_rights_they_need_per_stored_input():
    for name in ("mul", "matmul", "dense_scores", "column_sums", "demo", "bench"):
        assert PROGRAMS[name].required_rights({}, "x") is None  # the owner's data only
    train, infer = PROGRAMS["train"], PROGRAMS["infer"]
    assert train.required_rights({}, "x") == {"train", "release-model"}
    assert train.required_rights({}, "x", keeps_model=True) == {"train"}
    assert train.required_rights({}, "x_test") == {"infer"}
    assert train.required_rights({}, "param.0.W") is None
    assert infer.required_rights({}, "y") == {"infer"}
    assert train.stores_model and not infer.stores_model


def test_each_primary_has_its_own_private_data_directory(tmp_path):
    for cfg in (load(Path(__file__).parent.parent / "configs" / "loopback.toml"), load_default(tmp_path)):
        assert cfg.store_dir(0) != cfg.store_dir(1) and cfg.parties[0].data_dir is not None
    same = CONFIG.replace('port = 1\n', 'port = 1\ndata_dir = "d"\n').replace('port = 2\n', 'port = 2\ndata_dir = "d"\n')
    with pytest.raises(ConfigError, match="p0 and p1 need separate data directories"):
        parse(same, source="test", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="p2 .* stores no data"):
        parse(CONFIG.replace('port = 3\n', 'port = 3\ndata_dir = "x"\n'), source="test", base_dir=tmp_path)
    # a store written with looser modes by an older version is closed to other users at open
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    ShareStore(old, 0)
    assert old.stat().st_mode & 0o777 == 0o700
