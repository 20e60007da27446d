"""DALI preprocessing and the ONNX classifier, called directly without Ray."""

import json
from pathlib import Path

import numpy as np
import pytest

from deployments.dali_preprocessor import DaliPreprocessor
from deployments.vision_classifier import VisionClassifier, softmax
from serve_app.artifacts import ArtifactLayout
from serve_app.common.shapes import SHAPE_LABELS, draw_shape, encode, shape_png
from serve_app.common.errors import InvalidImage


@pytest.fixture(scope="module")
def vision_dir(artifacts_dir):
    return str(ArtifactLayout(root=artifacts_dir).vision)


@pytest.fixture(scope="module")
def preprocessor(vision_dir):
    return DaliPreprocessor.func_or_class(vision_dir)


@pytest.fixture(scope="module")
def classifier(vision_dir):
    return VisionClassifier.func_or_class(vision_dir)


def test_artifact_reports_high_heldout_accuracy(vision_dir):
    spec = json.loads((Path(vision_dir) / "model.json").read_text())
    assert spec["labels"] == list(SHAPE_LABELS)
    assert spec["heldout_accuracy"] >= 0.95


def test_dali_output_is_normalized_chw(preprocessor):
    (tensor,) = preprocessor._decode_each([shape_png("star", 1, size=100)])
    assert tensor.shape == (3, 64, 64) and tensor.dtype == np.float32
    # The plain background is light, so most pixels sit above the mean after normalization.
    assert -2.5 < tensor.min() < tensor.max() <= 2.0 + 1e-6


def test_one_broken_image_fails_alone(preprocessor):
    good = shape_png("circle", 2)
    results = preprocessor._decode_each([good, good[:30], good])
    assert isinstance(results[1], InvalidImage)
    assert [r.shape for r in (results[0], results[2])] == [(3, 64, 64)] * 2


def test_held_out_shapes_are_classified(preprocessor, classifier):
    rng = np.random.default_rng(4242)
    images = [(label, encode(draw_shape(label, rng))) for label in SHAPE_LABELS for _ in range(10)]
    tensors = preprocessor._decode_each([image for _, image in images])
    answers = classifier._infer(np.stack(tensors))
    correct = sum(answer["label"] == label for (label, _), answer in zip(images, answers))
    assert correct / len(images) >= 0.95
    for answer in answers:
        scores = [entry["score"] for entry in answer["top_k"]]
        assert scores == sorted(scores, reverse=True) and sum(scores) <= 1 + 1e-5


def test_softmax_rows_sum_to_one():
    rows = softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]]))
    assert np.allclose(rows.sum(axis=1), 1.0)
    assert rows[1, 0] == pytest.approx(1.0)


def test_reconfigure_retunes_batching_live(vision_dir):
    preprocessor = DaliPreprocessor.func_or_class(vision_dir)
    preprocessor.reconfigure({"max_batch_size": 4, "batch_wait_timeout_s": 0.01})
    assert preprocessor._preprocess_batch._get_max_batch_size() == 4
    assert preprocessor._preprocess_batch._get_batch_wait_timeout_s() == 0.01
    # The rebuilt DALI pipeline takes the new batch size.
    assert len(preprocessor._decode_each([shape_png("square", i) for i in range(4)])) == 4
    with pytest.raises(Exception):
        preprocessor.reconfigure({"max_batch_size": 0})
