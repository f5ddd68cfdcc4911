import pytest
import torch
import torchvision
from torch import nn

from foodclf.errors import FoodclfError, WeightsError
from foodclf.models.backbones import create_backbone, list_backbones
from foodclf.models.net import count_parameters, create_model, default_data_config


def _params(module):
    return sum(p.numel() for p in module.parameters())


def test_vgg16_base_and_tail_match_keras_counts():
    model = create_model("vgg16", 11)
    assert _params(model.backbone) == 14_714_688
    assert sum(_params(m) for m in model.tail_modules()) == 7_079_424  # block5_conv1..3
    assert _params(model.head) == 512 * 11 + 11


def test_mobilenet_v2_base_and_tail_match_keras_counts():
    model = create_model("mobilenet_v2", 11)
    bn_stats = sum(m.running_mean.numel() + m.running_var.numel()
                   for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d))
    assert _params(model.backbone) == 2_223_872
    assert _params(model.backbone) + bn_stats == 2_257_984  # Keras counts BN statistics too
    assert sum(_params(m) for m in model.tail_modules()) == 720_000  # after the first 149 layers


def test_baseline_is_the_smallest():
    sizes = {name: count_parameters(create_model(name, 11)) for name in ("baseline", "mobilenet_v2", "vgg16")}
    assert sizes["baseline"] < sizes["mobilenet_v2"] < sizes["vgg16"]


@pytest.mark.parametrize("name", ["baseline", "mobilenet_v2", "vgg16", "timm/resnet10t"])
def test_every_backbone_classifies_small_images(name):
    model = create_model(name, 7).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    assert model.tail_modules()


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(FoodclfError, match="unknown backbone 'resnet'.*baseline, mobilenet_v2, vgg16, timm/<name>"):
        create_backbone("resnet")
    with pytest.raises(FoodclfError, match="unknown timm model"):
        create_backbone("timm/not-a-model")
    assert "vgg16" in list_backbones()


def test_imagenet_weights_absent_name_file_and_folder(tmp_path, monkeypatch):
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # a closed port: no download anywhere
    try:
        with pytest.raises(WeightsError, match=r"mobilenet_v2-b0353104\.pth.*--weights none") as info:
            create_backbone("mobilenet_v2", "imagenet")
        assert str(tmp_path / "hub" / "checkpoints") in str(info.value)
    finally:
        torch.hub.set_dir(str(tmp_path / "unused"))


def test_cached_imagenet_weights_load_and_use_keras_bn_momentum(tmp_path):
    torch.hub.set_dir(str(tmp_path))
    reference = torchvision.models.mobilenet_v2()
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / "mobilenet_v2-b0353104.pth")
    backbone = create_backbone("mobilenet_v2", "imagenet")
    assert torch.equal(backbone.features[0][0].weight, reference.features[0][0].weight)
    assert {m.momentum for m in backbone.features.modules() if isinstance(m, nn.BatchNorm2d)} == {0.001}


def test_baseline_has_no_imagenet_weights():
    with pytest.raises(WeightsError, match="--weights none"):
        create_backbone("baseline", "imagenet")


def test_weights_from_a_file_are_checked_before_copying(tmp_path):
    source = create_model("baseline", 3)
    path = tmp_path / "model.pt"
    torch.save(source.state_dict(), path)
    backbone = create_backbone("baseline", path)
    assert torch.equal(backbone.features[0][0].weight, source.backbone[0][0].weight)
    torch.save(create_model("mobilenet_v2", 3).state_dict(), path)
    with pytest.raises(WeightsError, match="does not fit this backbone"):
        create_backbone("baseline", path)
    with pytest.raises(WeightsError, match="not found"):
        create_backbone("baseline", tmp_path / "missing.pt")


def test_default_data_config_comes_from_the_weights_metadata():
    config = default_data_config("vgg16", 11)
    assert config.image_size == 224 and config.mean == (0.485, 0.456, 0.406)
    assert default_data_config("baseline", 11, image_size=64).std == (1.0, 1.0, 1.0)
    assert default_data_config("timm/resnet10t", 5).interpolation in ("bilinear", "bicubic")
