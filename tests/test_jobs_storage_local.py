"""Job services in process: progress, checkpoint save/load and the P0/P1 step agreement."""

import shutil

import numpy as np
import pytest

from spp_runtime.engine.local import run_local
from spp_runtime.errors import SppError
from spp_runtime.jobs import NullServices
from spp_runtime.server.services import ServerServices
from spp_runtime.storage.checkpoints import CheckpointError, CheckpointStore
from spp_runtime.tensor import SharedTensor


def _with_services(tmp, job, reports=None, ckpt="c"):
    def wrap(program):
        def run(ctx):
            return program(ctx, ServerServices(
                ctx, job=job, checkpoint_id=ckpt,
                checkpoints=None if ctx.is_helper else CheckpointStore(tmp / ctx.name),
                reporter=(lambda d, t, i: reports.append((d, t, i))) if ctx.party == 0 and reports is not None else None,
            ))
        return run
    return wrap


def _step(value):
    def program(ctx, svc):
        resumed = svc.load_checkpoint({"w": (2, 3)})
        w = resumed.tensors["w"] if resumed else SharedTensor.zeros(ctx, (2, 3))
        w = w + SharedTensor.public(ctx, np.full((2, 3), value))
        step = resumed.step + 1 if resumed else 0
        svc.save_checkpoint({"w": w}, step=step)
        svc.progress(step, 10, {"step": step, "secret": np.zeros(1)})
        return step, w.reveal()
    return program


def test_checkpoints_resume_from_the_newest_step_both_primaries_hold(tmp_path):
    reports = []
    for i, v in enumerate((1.0, 2.0, 3.0)):
        run = run_local(_with_services(tmp_path, f"job{i}", reports)(_step(v)))
        step, w = run.outputs[0]
        assert step == i and run.outputs[2][0] == i
    np.testing.assert_allclose(w, np.full((2, 3), 6.0))
    assert reports[-1] == (2, 10, {"step": 2})  # only public scalars are sent
    assert len(list((tmp_path / "p0" / "c").iterdir())) == 2  # the newest two steps are kept
    shutil.rmtree(max((tmp_path / "p1" / "c").iterdir()))  # p1 crashed before saving step 2
    run = run_local(_with_services(tmp_path, "job3")(_step(10.0)))
    assert run.outputs[0][0] == 2 and run.outputs[1][0] == 2
    np.testing.assert_allclose(run.outputs[0][1], np.full((2, 3), 13.0))  # 1 + 2 + 10
    cost = run.top("checkpoint.load")[0]
    assert cost.rounds == 2 and cost.bytes_per_link == {"p0->p1": 32, "p1->p0": 32, "p0->p2": 8}


def test_without_a_checkpoint_id_loading_finds_nothing_and_saving_fails(tmp_path):
    def program(ctx):
        for svc in (NullServices(), ServerServices(ctx)):
            assert svc.checkpoint_id is None and svc.load_checkpoint({"w": (1,)}) is None
            svc.progress(1, 1)
            with pytest.raises(SppError, match="no checkpoint id"):
                svc.save_checkpoint({"w": SharedTensor.zeros(ctx, (1,))}, step=0)
        return True

    assert run_local(program).outputs == [True] * 3


def test_checkpoint_store_checks_names_and_damage(tmp_path):
    store = CheckpointStore(tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint id '../x'"):
        store.save("../x", 0, 1, 16, {"w": np.zeros(2, np.uint64)})
    with pytest.raises(CheckpointError, match="tensor name"):
        store.save("ok", 0, 1, 16, {"a/b": np.zeros(2, np.uint64)})
    store.save("ok", 3, 7, 16, {"w": np.arange(4, dtype=np.uint64).reshape(2, 2)})
    assert [(s.step, s.tag, s.shapes) for s in store.steps("ok")] == [(3, 7, {"w": (2, 2)})]
    path = tmp_path / "ok" / "0000000003" / "w.u64"
    path.write_bytes(b"\0" * 32)
    with pytest.raises(CheckpointError, match="w is damaged"):
        store.load("ok", 3)


def test_a_checkpoint_saved_with_other_fractional_bits_is_refused(tmp_path):
    from spp_runtime.encoding import FixedPoint

    run_local(_with_services(tmp_path, "a")(_step(1.0)), fxp=FixedPoint(12))
    with pytest.raises(Exception, match="saved with 12 fractional bits; this job uses 16"):
        run_local(_with_services(tmp_path, "b")(_step(1.0)))
