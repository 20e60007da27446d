"""A reference Triton server (PyTriton) serving the platform's own vision artifact.

Runs in its own virtualenv (`.venv-triton`: PyTriton needs numpy<2) with the repository on
PYTHONPATH, so it preprocesses with the very DALI pipeline the platform uses:
- `vision`: `image` FP32 [-1,3,S,S] → `logits` FP32 [-1,C] (ONNX Runtime, as VisionClassifier);
- `classify`: `IMAGE` BYTES [-1] → `LABEL` BYTES, `SCORE` FP32, `PROBABILITIES` FP32 [-1,C]
  (DALI + ONNX Runtime, the platform's KServe V2 `classify` model).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from deployments.dali_pipeline import build_pipeline

MAX_BATCH = 16
# The same batching the platform's serve_config.yaml sets: up to 16 requests, 2 ms wait.
BATCHING = ModelConfig(max_batch_size=MAX_BATCH, batcher=DynamicBatcher(max_queue_delay_microseconds=2000))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vision-dir", type=Path, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args()
    spec = json.loads((args.vision_dir / "model.json").read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(args.vision_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    pipeline = build_pipeline(spec["size"], spec["mean"], spec["std"], use_gpu=False, max_batch=MAX_BATCH)
    labels = np.array([label.encode() for label in spec["labels"]], dtype=object)

    @batch
    def vision(image: np.ndarray) -> dict:
        return {"logits": session.run(None, {"image": image})[0]}

    @batch
    def classify(IMAGE: np.ndarray) -> dict:  # noqa: N803 - PyTriton passes inputs by tensor name
        pipeline.feed_input("encoded", [np.frombuffer(row[0], np.uint8) for row in IMAGE])
        logits = session.run(None, {"image": pipeline.run()[0].as_array()})[0]
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
        best = probabilities.argmax(axis=1)
        return {"LABEL": labels[best][:, None], "SCORE": probabilities.max(axis=1)[:, None],
                "PROBABILITIES": probabilities}

    size, classes = spec["size"], len(spec["labels"])
    config = TritonConfig(http_port=args.http_port, grpc_port=args.http_port + 1, metrics_port=args.http_port + 2)
    with Triton(config=config) as triton:
        triton.bind(model_name="vision", infer_func=vision,
                    inputs=[Tensor(name="image", dtype=np.float32, shape=(3, size, size))],
                    outputs=[Tensor(name="logits", dtype=np.float32, shape=(classes,))],
                    config=BATCHING)
        triton.bind(model_name="classify", infer_func=classify,
                    inputs=[Tensor(name="IMAGE", dtype=bytes, shape=(1,))],
                    outputs=[Tensor(name="LABEL", dtype=bytes, shape=(1,)),
                             Tensor(name="SCORE", dtype=np.float32, shape=(1,)),
                             Tensor(name="PROBABILITIES", dtype=np.float32, shape=(classes,))],
                    config=BATCHING)
        triton.serve()


if __name__ == "__main__":
    main()
