import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from foodclf.data.data_config import DataConfig
from foodclf.data.preprocess import EvalArrays
from foodclf.data.transforms import INTERPOLATION_MODES, EvalPreset, RandomAnisotropicZoom, TrainPreset

CONFIG = DataConfig("baseline", 11, image_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_eval_preset_squashes_to_size_and_normalises():
    image = Image.new("RGB", (80, 40), (255, 0, 128))
    x = EvalPreset(CONFIG)(image)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    expected = (torch.tensor([255, 0, 128]) / 255 - 0.5) / 0.25
    assert torch.allclose(x[:, 16, 16], expected, atol=1e-3)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_eval_preset_is_torchvision_antialiased_resize_within_one_level(interpolation):
    """EvalPreset resizes with Pillow (foodclf.data.preprocess); torchvision's antialiased resize of
    the same image, which EvalPreset ran before, differs by at most one 8-bit level per pixel."""
    config = DataConfig("baseline", 11, image_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                        interpolation=interpolation)
    image = Image.effect_noise((150, 97), 70).convert("RGB")
    torchvision_way = v2.Compose([v2.ToImage(), v2.Resize((32, 32), interpolation=INTERPOLATION_MODES[interpolation],
                                                           antialias=True),
                                  v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.mean, config.std)])
    levels = (EvalPreset(config)(image) - torchvision_way(image)).abs() * 255 * 0.25
    assert levels.max() <= 1.0 + 1e-4 and levels.mean() < 0.05


def test_eval_arrays_is_eval_preset_without_torch():
    image = Image.effect_noise((60, 45), 70).convert("RGB")
    array = EvalArrays(CONFIG)(image)
    assert array.dtype == np.float32 and array.shape == (3, 32, 32)
    assert np.array_equal(array, EvalPreset(CONFIG)(image).numpy())


def test_train_preset_fills_with_nearest_pixels_not_black():
    # A uniform image must stay uniform after shift/zoom/shear: Keras fill_mode='nearest'.
    image = Image.new("RGB", (50, 50), (200, 100, 50))
    preset = TrainPreset(CONFIG)
    torch.manual_seed(0)
    for _ in range(20):
        x = preset(image)
        assert x.shape == (3, 32, 32)
        assert torch.allclose(x, x[:, :1, :1].expand_as(x), atol=2e-2)


def test_train_preset_is_random_but_seeded():
    image = Image.effect_noise((40, 40), 80).convert("RGB")
    preset = TrainPreset(CONFIG)
    torch.manual_seed(1)
    a = preset(image)
    torch.manual_seed(1)
    b = preset(image)
    c = preset(image)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_zoom_draws_x_and_y_apart_within_range():
    zoom = RandomAnisotropicZoom(0.1)
    torch.manual_seed(0)
    params = [zoom.make_params([]) for _ in range(200)]
    zx = torch.tensor([p["zx"] for p in params])
    zy = torch.tensor([p["zy"] for p in params])
    assert zx.min() >= 0.9 and zx.max() <= 1.1 and zy.min() >= 0.9 and zy.max() <= 1.1
    assert (zx - zy).abs().max() > 0.05  # anisotropic, unlike torchvision's RandomAffine scale
    out = zoom.transform(torch.zeros(3, 100, 100), {"zx": 0.8, "zy": 1.25})
    assert out.shape == (3, 80, 125)
