"""The client API: one name grammar (whole-string matches), a version on every message, one
bad-request error."""

import msgpack
import numpy as np
import pytest

from spp_runtime.api import messages, names, storage_messages
from spp_runtime.api.envelope import VERSION, BadRequest
from spp_runtime.jobs import compose, programs_table
from spp_runtime.jobs.program import Program
from spp_runtime.storage.checkpoints import CheckpointError, CheckpointStore
from spp_runtime.storage.errors import InvalidMetadata
from spp_runtime.storage.meta import validate_name, validate_upload_id


@pytest.mark.parametrize("check, good", [
    (names.is_job_id, "job-1:a.b"),
    (names.is_name, "param.w1"),
    (names.is_dataset_name, "mnist-2"),
    (names.is_checkpoint_id, "run-1"),
    (names.is_part, "y"),
    (names.is_dataset_ref, "mnist:x"),
    (names.is_upload_id, "0123456789abcdef"),
    (names.is_sha256, "0" * 64),
])
def test_names_match_whole_strings_only(check, good):
    assert check(good)
    for bad in (good + "\n", "\n" + good, good + " ", "", None, 7, b"x"):
        assert not check(bad), bad


def test_a_name_with_a_trailing_newline_is_refused_everywhere(tmp_path):
    shapes, shares = {"x": (1,)}, {"x": np.zeros(1, np.uint64)}

    def decode(frames):
        _, header = messages.request_kind(frames)
        return messages.decode_job(frames, header, with_shares=True, max_bytes=1 << 20)

    assert decode(messages.encode_job("j", "mul", {}, 16, shapes, shares, {"d": "ds:x"}, "c")).job == "j"
    for frames, error in [
        (messages.encode_job("j\n", "mul", {}, 16, shapes, shares), "job id must be"),
        (messages.encode_job("j", "name\n", {}, 16, shapes, shares), "program must be a name"),
        (messages.encode_job("j", "mul", {}, 16, {"name\n": (1,)}, {"name\n": np.zeros(1, np.uint64)}),
         "input 0 must be"),
        (messages.encode_job("j", "mul", {}, 16, shapes, shares, {"d": "name:x\n"}), "datasets must map"),
        (messages.encode_job("j", "mul", {}, 16, shapes, shares, {"d\n": "name:x"}), "datasets must map"),
        (messages.encode_job("j", "mul", {}, 16, shapes, shares, checkpoint="name\n"), "checkpoint id must be"),
    ]:
        with pytest.raises(BadRequest, match=error):
            decode(frames)
    with pytest.raises(InvalidMetadata, match="invalid dataset name"):
        validate_name("name\n")
    with pytest.raises(InvalidMetadata, match="invalid upload id"):
        validate_upload_id("0123456789abcdef\n")
    with pytest.raises(CheckpointError, match="checkpoint id"):
        CheckpointStore(tmp_path).save("name\n", 0, 1, 16, {"w": np.zeros(1, np.uint64)})


def test_every_message_carries_the_version_and_other_versions_are_bad_requests():
    requests = [
        messages.encode_job("j", "mul", {}, 16, {"x": (1,)}, None),
        messages.encode_status_request(),
        storage_messages.encode_request("upload.chunk", "r1", {"index": 0}, {"x": np.zeros((2, 3), np.uint64)}),
        storage_messages.encode_request("datasets.list", "r2", {}),
    ]
    replies = [
        messages.encode_result("j", "p0", [messages.Output("o", "public", np.zeros(2), (2,))], [], 0.1),
        messages.encode_error("j", "p0", ValueError("no")),
        messages.encode_status("p0", {"ready": True}),
        messages.encode_progress("j", "p0", 1, 2, {}),
        messages.encode_answer("r1", "p0", {"x": 1}),
    ]
    for frames in requests + replies:
        assert msgpack.unpackb(frames[0])["v"] == VERSION
    for frames in requests:
        _, header = messages.request_kind(frames)
        other = msgpack.packb({**header, "v": VERSION + 1})
        with pytest.raises(BadRequest, match=f"unsupported request version {VERSION + 1}"):
            messages.request_kind([other, *frames[1:]])
    with pytest.raises(BadRequest, match="unsupported reply version"):
        messages.decode_reply([msgpack.packb({"kind": "status"})], server="p0", max_bytes=1 << 20)


def test_a_chunk_frame_that_does_not_fit_its_shape_is_a_bad_request():
    frames = storage_messages.encode_request("upload.chunk", "r", {"index": 0}, {"x": np.zeros((2, 3), np.uint64)})
    _, header = messages.request_kind(frames)
    assert storage_messages.decode_chunk_arrays(header, frames[1:])["x"].shape == (2, 3)
    with pytest.raises(BadRequest, match="has 40 bytes, not shape"):
        storage_messages.decode_chunk_arrays(header, [bytes(40)])


def test_programs_tables_refuse_a_name_given_twice():
    p = Program("p", lambda ctx, t, params, services: {})
    assert list(compose(programs_table(p), programs_table(Program("q", p.run)))) == ["p", "q"]
    with pytest.raises(ValueError, match="'p' is defined twice"):
        compose(programs_table(p), programs_table(p))
