"""A small, deterministic Food-11-layout dataset for the demo and the tests.

Each of the 11 classes has its own colour, shape and texture (stripes, dots, checks, plain),
drawn with random position, size, background and noise, so that a model has to learn something
and accuracy means something; nothing here looks like food.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from foodclf.data.datasets import FOOD11_CLASSES

log = logging.getLogger(__name__)

DEFAULT_COUNTS = {"training": 40, "validation": 12, "evaluation": 12}
SHAPES = ("ellipse", "rectangle", "triangle")
TEXTURES = ("plain", "stripes", "dots", "checks")


def class_style(class_id: int) -> dict:
    hue = class_id / len(FOOD11_CLASSES)
    return {"hue": hue, "shape": SHAPES[class_id % 3], "texture": TEXTURES[(class_id // 3 + class_id) % 4]}


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def draw_sample(class_id: int, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    width, height = size
    style = class_style(class_id)
    background = tuple(int(c) for c in rng.integers(90, 200, 3))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    colour = _hsv_to_rgb((style["hue"] + rng.normal(0, 0.015)) % 1.0, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
    scale = rng.uniform(0.45, 0.8)
    w, h = width * scale, height * scale
    x0, y0 = rng.uniform(0, width - w), rng.uniform(0, height - h)
    box = (x0, y0, x0 + w, y0 + h)
    if style["shape"] == "ellipse":
        draw.ellipse(box, fill=colour)
    elif style["shape"] == "rectangle":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(x0 + w / 2, y0), (x0, y0 + h), (x0 + w, y0 + h)], fill=colour)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    _texture(image, mask, style["texture"], rng)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _texture(image: Image.Image, mask: Image.Image, texture: str, rng: np.random.Generator) -> None:
    if texture == "plain":
        return
    overlay = image.copy()
    draw = ImageDraw.Draw(overlay)
    width, height = image.size
    step = max(3, int(min(width, height) * rng.uniform(0.08, 0.12)))
    dark = (20, 20, 20)
    if texture == "stripes":
        for x in range(0, width + height, step * 2):
            draw.line([(x, 0), (x - height, height)], fill=dark, width=max(1, step // 2))
    elif texture == "dots":
        for y in range(step // 2, height, step * 2):
            for x in range(step // 2, width, step * 2):
                draw.ellipse((x, y, x + step / 1.5, y + step / 1.5), fill=dark)
    else:
        for y in range(0, height, step):
            for x in range((y // step) % 2 * step, width, step * 2):
                draw.rectangle((x, y, x + step - 1, y + step - 1), fill=dark)
    image.paste(overlay, (0, 0), mask)


def make_sample(out: str | Path, counts: dict[str, int] | None = None, seed: int = 0,
                min_size: int = 48, max_size: int = 96) -> Path:
    """Write the sample dataset under ``out`` (training/, validation/, evaluation/) and return it."""
    out = Path(out)
    counts = counts or DEFAULT_COUNTS
    rng = np.random.default_rng(seed)
    for split, per_class in counts.items():
        split_dir = out / split
        split_dir.mkdir(parents=True, exist_ok=True)
        for class_id in range(len(FOOD11_CLASSES)):
            for index in range(per_class):
                size = tuple(int(s) for s in rng.integers(min_size, max_size + 1, 2))
                draw_sample(class_id, rng, size).save(split_dir / f"{class_id}_{index}.jpg", quality=90)
    log.info("wrote %d images to %s", len(FOOD11_CLASSES) * sum(counts.values()), out)
    return out
