"""Benchmark images: encoded bytes -> float tensors at the run's resolution, resized in torch.

Decoding errors become ``ImageDecodeError`` so a suite can skip and count the sample that holds
a corrupt image instead of failing the whole run.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


class ImageDecodeError(ValueError):
    """An image that PIL cannot read (truncated, not an image, empty)."""


def decode_rgb(data: bytes | None, what: str) -> Image.Image:
    """PIL RGB image from encoded bytes; ``what`` names the file/field in the error."""
    if not data:
        raise ImageDecodeError(f"{what}: no image data")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # force the full decode here: a truncated file fails now, not later
            return im.convert("RGB")
    except Exception as e:  # PIL raises several types (UnidentifiedImageError, OSError, SyntaxError)
        raise ImageDecodeError(f"{what}: cannot decode image ({type(e).__name__}: {e})") from None


def read_rgb(path: Path) -> Image.Image:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImageDecodeError(f"{path}: cannot read ({e.strerror or e})") from None
    return decode_rgb(data, str(path))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """[3, H, W] float in [0, 1]."""
    arr = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """[3, H, W] -> [3, size, size]: the methods work on square images at the run's resolution.
    Bicubic with antialiasing (a plain bicubic downscale aliases badly at 32 px)."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    out = F.interpolate(x.unsqueeze(0), size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return out.squeeze(0).clamp(0.0, 1.0)


def png_from_pil(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()
