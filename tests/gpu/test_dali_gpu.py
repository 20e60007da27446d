"""The DALI GPU path (`mixed` decoder) answers as the CPU pipeline does; runs only where CUDA is."""

import numpy as np
import pytest
from nvidia.dali import backend as dali_backend

from deployments.dali_pipeline import build_pipeline
from deployments.dali_preprocessor import DaliPreprocessor
from serve_app.artifacts import ArtifactLayout
from serve_app.common.shapes import SHAPE_LABELS, shape_png

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(dali_backend.GetCUDADeviceCount() == 0,
                                                  reason="needs a CUDA device for DALI's mixed decoder")]


def test_gpu_pipeline_matches_cpu_pipeline(artifacts_dir):
    vision_dir = ArtifactLayout(root=artifacts_dir).vision
    preprocessor = DaliPreprocessor.func_or_class(str(vision_dir))
    assert preprocessor.use_gpu
    images = [shape_png(label, seed) for seed in range(3) for label in SHAPE_LABELS]
    spec = preprocessor.spec
    cpu = build_pipeline(spec["size"], spec["mean"], spec["std"], use_gpu=False, max_batch=len(images))
    cpu.feed_input("encoded", [np.frombuffer(image, np.uint8) for image in images])
    expected = cpu.run()[0].as_array()
    # nvJPEG/nvImageCodec and the CPU decoder may round differently by a grey level or two.
    np.testing.assert_allclose(np.stack(preprocessor._decode_each(images)), expected, atol=0.1)
