"""In-process ONNX Runtime: CUDA execution provider when present, else CPU."""

from pathlib import Path

import numpy as np
import onnxruntime as ort

from deployments.backends import Backend, BackendConfig


class OnnxRuntimeBackend(Backend):
    def __init__(self, config: BackendConfig, model_dir: Path):
        options = ort.SessionOptions()
        # One thread per replica: replicas share the machine's cores, batching gives the speed-up.
        options.intra_op_num_threads = 1
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=providers)
        self.output_names = [output.name for output in self.session.get_outputs()]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, inputs)))

    def health(self) -> None:
        """An in-process session stays usable once loaded."""
