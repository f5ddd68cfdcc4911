"""What several test modules share: images good and bad, and requests to a served model."""
import io

import requests
import torch
from PIL import Image

from foodclf.data.images import open_rgb
from foodclf.data.transforms import EvalPreset


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def photo(size=(48, 40), mode="RGB") -> Image.Image:
    """A deterministic picture with structure (a gradient and a square), in any mode."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((200, 40, 30), (width // 4, height // 4, width // 2, height // 2))
    if mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(Image.linear_gradient("L").resize(size))
    return image.convert(mode)


def good_images() -> dict[str, bytes]:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees
    return {
        "jpeg": encode(photo(), "JPEG", quality=90),
        "png": encode(photo(), "PNG"),
        "rgba_png": encode(photo(mode="RGBA"), "PNG"),
        "grayscale_jpeg": encode(photo(mode="L"), "JPEG"),
        "cmyk_jpeg": encode(photo(mode="CMYK"), "JPEG"),
        "exif_rotated_jpeg": encode(photo(), "JPEG", exif=exif),
    }


def bad_images() -> dict[str, tuple[bytes, str]]:
    """name -> (request body, a phrase the error message must contain)."""
    jpeg = encode(photo((64, 64)), "JPEG")
    return {
        "empty": (b"", "empty"),
        "not_an_image": (bytes(range(256)) * 4, "not an image"),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "truncated"),
        "one_pixel": (encode(Image.new("RGB", (1, 1)), "PNG"), "smaller than"),
        # 9000 x 9000 one-bit pixels: a few kB of PNG that would decode to 81 M pixels.
        "decompression_bomb": (encode(Image.new("1", (9000, 9000)), "PNG"), "decompression bomb"),
        "text_named_jpg": (b"Bread, Dairy product, Dessert\nnot a photo\n", "not an image"),
    }


def in_process_probabilities(run, data: bytes) -> torch.Tensor:
    """What evaluation computes for these bytes: the run's model, EvalPreset, open_rgb."""
    image = EvalPreset(run.data_config)(open_rgb(data))
    with torch.no_grad():
        return torch.softmax(run.load_model()(image.unsqueeze(0)), dim=1)[0]



def put(server, data: bytes, model: str = "food", **headers) -> requests.Response:
    return requests.put(server.predictions_url(model), data=data, timeout=60,
                        headers={"Content-Type": "application/octet-stream", **headers})


def probabilities(answer: dict, num_classes: int) -> torch.Tensor:
    served = torch.zeros(num_classes)
    for p in answer["predictions"]:
        served[p["index"]] = p["probability"]
    return served
