"""An external Triton server over KServe V2 HTTP, through `tritonclient.http` (binary tensors)."""

from pathlib import Path

import numpy as np
import tritonclient.http as triton
from tritonclient.utils import np_to_triton_dtype

from deployments.backends import Backend, BackendConfig
from serve_app.common.errors import ModelUnavailable


class TritonHttpBackend(Backend):
    def __init__(self, config: BackendConfig, model_dir: Path):
        self.model_name = config.model_name
        self.client = triton.InferenceServerClient(config.url, connection_timeout=config.timeout_s,
                                                   network_timeout=config.timeout_s)
        self.health()
        metadata = self.client.get_model_metadata(self.model_name)
        self.output_names = [output["name"] for output in metadata["outputs"]]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors = []
        for name, array in inputs.items():
            tensor = triton.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array, binary_data=True)
            tensors.append(tensor)
        outputs = [triton.InferRequestedOutput(name, binary_data=True) for name in self.output_names]
        result = self.client.infer(self.model_name, tensors, outputs=outputs)
        return {name: result.as_numpy(name) for name in self.output_names}

    def health(self) -> None:
        try:
            ready = self.client.is_model_ready(self.model_name)
        except Exception as error:  # any transport failure means the same to Serve: not serving
            raise ModelUnavailable(f"Triton unreachable: {error}") from None
        if not ready:
            raise ModelUnavailable(f"Triton model {self.model_name!r} is not ready")

    def close(self) -> None:
        self.client.close()
