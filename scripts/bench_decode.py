#!/usr/bin/env python
"""How fast each well-kept JPEG decoder turns a photo into the model's input, in one run.

    python scripts/bench_decode.py [--image PHOTO.jpg] [--run RUN_DIR] [--repeat 200]

Every decoder makes the same thing: the photo decoded, then resized and normalised by
foodclf.data.preprocess.EvalArrays for the run's data_config.json (Pillow's antialiased filter). Decoders:

- ``pillow-draft``: what the TorchServe handler does (EvalArrays.from_bytes): Pillow with
  libjpeg's DCT scaling (draft mode) down to no less than the model's size;
- ``pillow-full``: Pillow decoding every pixel, then the same resize;
- ``simplejpeg``: libjpeg-turbo through simplejpeg with its DCT scaling (min_width/min_height);
- ``torchvision``: torchvision.io.decode_jpeg (libjpeg-turbo, no DCT scaling), then the resize.

A decoder that is not installed is reported as such. Each is timed on one thread over --repeat
decodes of the same bytes, for the photo as given and re-encoded with 4:2:0 chroma subsampling
(what most cameras write; the report's photo was 4:4:4). It prints ms per image and each
decoder's time relative to pillow-draft, with the largest difference of its input from
pillow-draft's (in 8-bit levels), beside the CPU line. Compare ratios, not milliseconds.
"""
import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from foodclf.data.data_config import DATA_CONFIG_FILE, DataConfig, read_data_config
from foodclf.data.preprocess import EvalArrays
from foodclf.machine import machine_line


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", help="a JPEG photo (default: scikit-learn's china.jpg upscaled to 1280x1280)")
    p.add_argument("--run", help="a run or variant directory: its data_config.json (default: 224 px, bilinear, "
                                  "ImageNet normalisation)")
    p.add_argument("--repeat", type=int, default=200, help="decodes per decoder and photo (default 200)")
    return p.parse_args(argv)


def default_photo() -> bytes:
    """A 1280x1280 4:4:4 JPEG like the report's test photo (quality 90: a few hundred KB)."""
    from sklearn.datasets import load_sample_image

    image = Image.fromarray(load_sample_image("china.jpg")).resize((1280, 1280), Image.Resampling.BICUBIC)
    return jpeg(image, subsampling=0)


def jpeg(image: Image.Image, subsampling: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, subsampling=subsampling)
    return buffer.getvalue()


def decoders(arrays: EvalArrays, size: int) -> dict[str, Callable[[bytes], np.ndarray] | str]:
    """name -> bytes-to-input function, or why it is unavailable."""
    found: dict[str, Callable[[bytes], np.ndarray] | str] = {
        "pillow-draft": lambda data: arrays.from_bytes(data, max_pixels=10**8, min_side=1),
        "pillow-full": lambda data: arrays(Image.open(io.BytesIO(data)).convert("RGB")),
    }
    try:
        import simplejpeg

        found["simplejpeg"] = lambda data: arrays(Image.fromarray(
            simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=size, min_height=size)))
    except ImportError:
        found["simplejpeg"] = "not installed (pip install simplejpeg)"
    try:
        import torch
        from torchvision.io import decode_jpeg

        torch.set_num_threads(1)
        found["torchvision"] = lambda data: arrays(Image.fromarray(
            decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).permute(1, 2, 0).numpy()))
    except ImportError:
        found["torchvision"] = "not installed"
    return found


def time_per_image_ms(decode: Callable[[bytes], np.ndarray], data: bytes, repeat: int) -> float:
    decode(data)  # warm: code paths, allocations
    start = time.process_time()
    for _ in range(repeat):
        decode(data)
    return (time.process_time() - start) / repeat * 1000


def main(argv=None) -> int:
    args = parse_args(argv)
    original = open(args.image, "rb").read() if args.image else default_photo()
    photo = Image.open(io.BytesIO(original))
    photos = {"as given": original, "4:2:0": jpeg(photo.convert("RGB"), subsampling=2)}
    config = read_data_config(Path(args.run) / DATA_CONFIG_FILE) if args.run else DataConfig("mobilenet_v2", 11)
    arrays = EvalArrays(config)
    found = decoders(arrays, config.image_size)
    print(machine_line())
    for label, data in photos.items():
        print(f"\n{photo.size[0]}x{photo.size[1]} JPEG, {label}, {len(data) / 1024:.0f} KB "
              f"-> {config.image_size} px input")
        reference = found["pillow-draft"](data)
        base_ms = time_per_image_ms(found["pillow-draft"], data, args.repeat)
        for name, decode in found.items():
            if isinstance(decode, str):
                print(f"  {name:13} {decode}")
                continue
            ms = base_ms if name == "pillow-draft" else time_per_image_ms(decode, data, args.repeat)
            levels = (np.abs(decode(data) - reference) / arrays.scale).max()  # normalised -> 8-bit levels
            print(f"  {name:13} {ms:6.2f} ms per image   x{ms / base_ms:4.2f} of pillow-draft   "
                  f"input differs by up to {levels:.0f} levels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
