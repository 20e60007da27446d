"""The Triton backend against a real Triton server (PyTriton) serving the same ONNX model."""

import numpy as np
import pytest

from deployments.dali_preprocessor import DaliPreprocessor
from deployments.vision_classifier import VisionClassifier
from serve_app.artifacts import ArtifactLayout
from serve_app.common.errors import ModelUnavailable
from serve_app.common.shapes import SHAPE_LABELS, draw_shape, encode
from testkit.triton_reference import running_triton


@pytest.mark.slow
def test_triton_backend_answers_as_onnxruntime_does(artifacts_dir):
    vision_dir = ArtifactLayout(root=artifacts_dir).vision
    rng = np.random.default_rng(99)
    images = [encode(draw_shape(label, rng)) for label in SHAPE_LABELS for _ in range(4)]
    batch = np.stack(DaliPreprocessor.func_or_class(str(vision_dir))._decode_each(images))
    local = VisionClassifier.func_or_class(str(vision_dir))._infer(batch)
    with running_triton(vision_dir) as url:
        remote_classifier = VisionClassifier.func_or_class(
            str(vision_dir), backend={"kind": "triton", "url": url, "model_name": "vision"})
        remote = remote_classifier.executor.submit(remote_classifier._infer, batch).result()
    with pytest.raises(ModelUnavailable):
        remote_classifier.executor.submit(remote_classifier.backend.health).result()
    assert [answer["label"] for answer in remote] == [answer["label"] for answer in local]
    assert [answer["label"] for answer in local] == [label for label in SHAPE_LABELS for _ in range(4)]
    np.testing.assert_allclose([a["probabilities"] for a in remote], [a["probabilities"] for a in local],
                               atol=1e-5)
