"""Small images for the widgets and demos (chapter 01): load, convert, and encode as PNG."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .environment import asset_path


__all__ = ["load_image", "to_png", "bytes_as_image", "distinct_blocks", "text_image", "to_black_and_white"]


def load_image(name: str = "penguin.png") -> np.ndarray:
    """An RGB image from ``assets/`` as a ``(height, width, 3)`` uint8 array."""
    with Image.open(asset_path(name)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def to_png(pixels: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of an RGB or grey uint8 array, optionally enlarged (nearest neighbour)."""
    img = Image.fromarray(np.ascontiguousarray(pixels))
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def bytes_as_image(data: bytes, shape) -> np.ndarray:
    """View the first ``prod(shape)`` bytes of ``data`` as an image of ``shape``."""
    size = int(np.prod(shape))
    if len(data) < size:
        raise ValueError(f"need {size} bytes, got {len(data)}")
    return np.frombuffer(data[:size], dtype=np.uint8).reshape(shape)


def distinct_blocks(data: bytes, block: int = 16) -> int:
    """Number of distinct ``block``-byte blocks: low for ECB on images with flat regions."""
    return len({data[i:i + block] for i in range(0, len(data) - len(data) % block, block)})


def text_image(lines, shape=(144, 128), size: int = 28) -> np.ndarray:
    """A black-and-white (0/255) uint8 image with ``lines`` of text, e.g. a secret memo."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=size)
    step = shape[0] // (len(lines) + 1)
    for i, line in enumerate(lines):
        draw.text((6, step * (i + 1) - size // 2), line, font=font, fill=255)
    return np.asarray(img, dtype=np.uint8).copy()


def to_black_and_white(pixels: np.ndarray, threshold: int = 128) -> np.ndarray:
    """Grey-level 0/255 version of an RGB image (dark → 0, light → 255)."""
    grey = pixels.mean(axis=2) if pixels.ndim == 3 else pixels
    return np.where(grey >= threshold, 255, 0).astype(np.uint8)
