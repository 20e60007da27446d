"""Trains a small CNN on generated shapes and exports it to ONNX with its preprocessing spec."""

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from serve_app.common.shapes import IMAGE_SIZE, SHAPE_LABELS, draw_shape

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
TRAIN_PER_CLASS, HELDOUT_PER_CLASS, EPOCHS = 1200, 100, 14
# Training stops once the held-out set is classified perfectly this many epochs in a row (the loss is
# ~0 from about epoch 7; the remaining epochs only cost start-up time).
PATIENCE = 2


class ShapeCNN(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
        )
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _dataset(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for index, label in enumerate(SHAPE_LABELS):
        for _ in range(per_class):
            images.append(np.asarray(draw_shape(label, rng), dtype=np.float32) / 255.0)
            labels.append(index)
    x = (np.stack(images) - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.tensor(labels)


def build(out: Path, progress: tqdm) -> dict:
    """Train, check held-out accuracy, export `model.onnx` and `model.json` into `out`."""
    torch.manual_seed(0)
    x, y = _dataset(TRAIN_PER_CLASS, seed=1)
    x_test, y_test = _dataset(HELDOUT_PER_CLASS, seed=2)
    model = ShapeCNN(len(SHAPE_LABELS))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    perfect = 0
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        accuracy = _accuracy(model, x_test, y_test)
        progress.set_postfix_str(f"vision epoch {epoch + 1}/{EPOCHS} loss {loss.item():.3f} held-out {accuracy:.3f}")
        perfect = perfect + 1 if accuracy == 1.0 else 0
        if perfect == PATIENCE:
            break
    out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, x[:1], out / "model.onnx", input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
    )
    spec = {"labels": list(SHAPE_LABELS), "size": IMAGE_SIZE, "mean": MEAN, "std": STD,
            "heldout_accuracy": round(accuracy, 4), "epochs": epoch + 1}
    (out / "model.json").write_text(json.dumps(spec, indent=2))
    return {"heldout_accuracy": spec["heldout_accuracy"], "epochs": epoch + 1}


def _accuracy(model: ShapeCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()
