"""V2 gRPC messages through the one codec: raw and typed contents decode alike, outputs come back raw,
and malformed messages are InvalidTensor."""

import pickle

import numpy as np
import pytest

from serve_app.common.errors import InvalidTensor
from serve_app.v2.codec import tensor_bytes
from serve_app.v2.grpc_messages import pb
from serve_app.v2.grpc_service import decode_infer, encode_infer


def request(raw: bool) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", id="r1")
    ids = message.inputs.add(name="USER_ID", datatype="INT64", shape=[2])
    texts = message.inputs.add(name="TEXT", datatype="BYTES", shape=[2])
    if raw:
        message.raw_input_contents.extend([np.array([7, 8], np.int64).tobytes(),
                                           tensor_bytes(np.array([b"a", "안".encode()], object))])
    else:
        ids.contents.int64_contents.extend([7, 8])
        texts.contents.bytes_contents.extend([b"a", "안".encode()])
    message.outputs.add(name="SCORE")
    return message


@pytest.mark.parametrize("raw", [True, False])
def test_raw_and_typed_contents_decode_alike(raw):
    inference, tensors = decode_infer(request(raw))
    assert inference.id == "r1" and [o.name for o in inference.outputs] == ["SCORE"]
    assert tensors["USER_ID"].tolist() == [7, 8] and tensors["USER_ID"].dtype == np.int64
    assert tensors["TEXT"].tolist() == [b"a", "안".encode()]


def test_messages_pickle_by_name():
    """Serve's gRPC proxy pickles each request to hand it to a replica."""
    assert pickle.loads(pickle.dumps(request(raw=True))) == request(raw=True)


def test_outputs_come_back_raw():
    response = encode_infer("m", "v1", "r1", {"SCORE": np.array([0.5, 1.5], np.float32),
                                             "LABEL": np.array([b"x", b"yz"], object)}, {"SCORE": True, "LABEL": True})
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("SCORE", "FP32", [2]), ("LABEL", "BYTES", [2])]
    assert np.frombuffer(response.raw_output_contents[0], np.float32).tolist() == [0.5, 1.5]
    assert response.raw_output_contents[1] == b"\x01\x00\x00\x00x\x02\x00\x00\x00yz"


@pytest.mark.parametrize("mutate", [
    lambda m: m.raw_input_contents.pop(),                       # fewer raw contents than inputs
    lambda m: m.inputs[0].shape.__setitem__(0, 3),              # shape disagrees with the bytes
    lambda m: setattr(m.inputs[0], "datatype", "FP128"),        # no such datatype
    lambda m: m.inputs[0].shape.__setitem__(0, -1),             # negative dimension
])
def test_malformed_messages_are_invalid_tensor(mutate):
    message = request(raw=True)
    mutate(message)
    with pytest.raises(InvalidTensor):
        decode_infer(message)
