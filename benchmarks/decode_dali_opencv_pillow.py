"""Image preprocessing on the CPU, the same batch through three decoders: DALI (the platform's
pipeline), OpenCV and Pillow, each decode + resize + normalize to the vision model's CHW input.
Writes benchmarks/results/decode_dali_opencv_pillow.{json,md}.

Run: `.venv/bin/python -m benchmarks.decode_dali_opencv_pillow`.
"""

import io
import json
import logging
import statistics
import time

import cv2
import numpy as np
from PIL import Image

from deployments.dali_pipeline import build_pipeline
from serve_app.artifacts import ArtifactLayout
from serve_app.common.settings import PlatformSettings
from serve_app.common.shapes import SHAPE_LABELS, draw_shape, encode
from testkit.results import markdown_table, write_results

logger = logging.getLogger("benchmarks")
BATCH, SOURCE_SIZE, ROUNDS = 16, 256, 60


def _batch(fmt: str) -> list[bytes]:
    rng = np.random.default_rng(0)
    return [encode(draw_shape(SHAPE_LABELS[i % 4], rng, SOURCE_SIZE), fmt) for i in range(BATCH)]


def decoders(spec: dict) -> dict:
    size = spec["size"]
    mean = np.array(spec["mean"], np.float32) * 255
    std = np.array(spec["std"], np.float32) * 255
    pipeline = build_pipeline(size, spec["mean"], spec["std"], use_gpu=False, max_batch=BATCH)

    def dali(images: list[bytes]) -> np.ndarray:
        pipeline.feed_input("encoded", [np.frombuffer(image, np.uint8) for image in images])
        return pipeline.run()[0].as_array()

    def normalize(pixels: np.ndarray) -> np.ndarray:
        return ((pixels.astype(np.float32) - mean) / std).transpose(2, 0, 1)

    def opencv(images: list[bytes]) -> np.ndarray:
        return np.stack([normalize(cv2.resize(cv2.cvtColor(cv2.imdecode(np.frombuffer(image, np.uint8),
                                                                        cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
                                              (size, size), interpolation=cv2.INTER_LINEAR)) for image in images])

    def pillow(images: list[bytes]) -> np.ndarray:
        return np.stack([normalize(np.asarray(Image.open(io.BytesIO(image)).convert("RGB")
                                              .resize((size, size), Image.BILINEAR))) for image in images])

    return {"dali": dali, "opencv": opencv, "pillow": pillow}


def measure(decode, images: list[bytes]) -> dict:
    decode(images)
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        decode(images)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"batch_p50_ms": round(statistics.median(times), 3),
            "batch_p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
            "images_per_s": round(BATCH / (statistics.median(times) / 1000), 1)}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = json.loads((ArtifactLayout(root=PlatformSettings().artifacts_dir).vision / "model.json").read_text())
    results = {fmt: {name: measure(decode, _batch(fmt)) for name, decode in decoders(spec).items()}
               for fmt in ("PNG", "JPEG")}
    table = markdown_table(
        ["format", "decoder", "batch p50 ms", "batch p99 ms", "images/s", "p50 vs DALI"],
        [[fmt, name, row["batch_p50_ms"], row["batch_p99_ms"], row["images_per_s"],
          f"{row['batch_p50_ms'] / rows['dali']['batch_p50_ms']:.2f}"]
         for fmt, rows in results.items() for name, row in rows.items()])
    text = (f"# CPU preprocessing of one batch of {BATCH} {SOURCE_SIZE}px images to {spec['size']}px CHW float\n\n"
            f"{table}\n")
    write_results("decode_dali_opencv_pillow", results, text)
    logger.info(text)


if __name__ == "__main__":
    main()
