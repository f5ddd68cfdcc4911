import io

import pytest
from PIL import Image

from foodclf.data.images import ImageDecodeError, open_rgb


def _bytes(image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def test_rgba_is_composited_on_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert open_rgb(_bytes(image, "PNG")).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "LA", "I;16"])
def test_every_mode_becomes_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    out = open_rgb(_bytes(Image.new(mode, (5, 6)), fmt))
    assert out.mode == "RGB" and out.size == (5, 6)


def test_exif_rotation_is_applied():
    image = Image.new("RGB", (30, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    assert open_rgb(_bytes(image, "JPEG", exif=exif)).size == (10, 30)


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"hello, I am text", "not an image"),
])
def test_bad_bytes_get_clear_errors(data, match):
    with pytest.raises(ImageDecodeError, match=match):
        open_rgb(data)


def test_decompression_bomb_is_refused_before_decoding():
    data = _bytes(Image.new("L", (3000, 3000)), "PNG")
    with pytest.raises(ImageDecodeError, match="over the limit"):
        open_rgb(data, max_pixels=1_000_000)


def test_too_small_image_is_refused_when_asked():
    with pytest.raises(ImageDecodeError, match="smaller than 2"):
        open_rgb(_bytes(Image.new("RGB", (1, 1)), "PNG"), min_side=2)


def test_draft_mode_decodes_large_jpeg_smaller_but_not_below_target():
    data = _bytes(Image.new("RGB", (1280, 960)), "JPEG")
    out = open_rgb(data, draft_size=(224, 224))
    assert 224 <= min(out.size) < 960
