"""Generated shape images: one shape in one colour on a plain background."""

import io
import math

import numpy as np
from PIL import Image, ImageDraw

SHAPE_LABELS = ("circle", "square", "triangle", "star")
IMAGE_SIZE = 64
_COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 40, 180),
    "black": (15, 15, 15),
}
_BACKGROUNDS = ((255, 255, 255), (235, 235, 235), (250, 245, 225), (220, 230, 245))


def _polygon(cx: float, cy: float, radius: float, corners: int, rotation: float, inner: float = 1.0):
    step = math.pi / corners if inner != 1.0 else 2 * math.pi / corners
    count = corners * 2 if inner != 1.0 else corners
    points = []
    for i in range(count):
        r = radius * (inner if inner != 1.0 and i % 2 else 1.0)
        angle = rotation + i * step
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def draw_shape(label: str, rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw `label` with random colour, size, position and rotation."""
    background = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
    colour = list(_COLOURS.values())[rng.integers(len(_COLOURS))]
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(radius + 1, size - radius - 1, size=2)
    rotation = rng.uniform(0, 2 * math.pi)
    if label == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif label == "square":
        draw.polygon(_polygon(cx, cy, radius, 4, rotation), fill=colour)
    elif label == "triangle":
        draw.polygon(_polygon(cx, cy, radius, 3, rotation), fill=colour)
    elif label == "star":
        draw.polygon(_polygon(cx, cy, radius, 5, rotation, inner=0.45), fill=colour)
    else:
        raise ValueError(f"unknown shape {label!r}")
    return image


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def shape_png(label: str, seed: int, size: int = IMAGE_SIZE) -> bytes:
    """One encoded PNG of `label`, reproducible from `seed`."""
    return encode(draw_shape(label, np.random.default_rng(seed), size))
