"""Opening any image as RGB: EXIF rotation applied, alpha composited on white, CMYK, palette
and grayscale converted. Training, evaluation and the TorchServe handler all read images here.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps

# Pillow's own guard against decompression bombs is a warning up to 2x this and an error
# beyond; we make every image over the limit an error.
DEFAULT_MAX_PIXELS = 40_000_000


class ImageDecodeError(ValueError):
    """The bytes are not a usable image (empty, not an image, truncated, too large, too small)."""


def open_rgb(
    source: str | os.PathLike | bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = 1,
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode ``source`` (a path or the raw bytes) into a fully loaded RGB image.

    ``draft_size`` lets JPEG decoding scale down by 1/2, 1/4 or 1/8 while staying at least that
    size: the cheap path for large photos that will be resized anyway.
    """
    name = "image bytes" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise ImageDecodeError("the request body is empty: send the image file's bytes")
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"{name}: {width}x{height} = {width * height:,} pixels is over the limit of "
                    f"{max_pixels:,} (a decompression bomb?); send a smaller image"
                )
            if draft_size is not None and image.format == "JPEG":
                image.draft("RGB", draft_size)
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"{name}: {e}") from e
    except Image.DecompressionBombWarning as e:
        raise ImageDecodeError(f"{name}: {e}") from e
    except Image.UnidentifiedImageError as e:
        raise ImageDecodeError(f"{name}: not an image file Pillow can read") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageDecodeError(f"{name}: cannot decode image ({e}); the file may be truncated or corrupt") from e
    if min(image.size) < min_side:
        raise ImageDecodeError(f"{name}: {image.size[0]}x{image.size[1]} is smaller than {min_side} pixels a side")
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to RGB; transparent pixels become white rather than whatever colour hid there."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")
