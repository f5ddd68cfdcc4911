"""The backbone registry: one factory per architecture, registered by a decorator (timm style).

A backbone is a plain ``nn.Module`` mapping images to features, plus the facts that travel
with it: how many features it gives, which of its modules the report's recipe unfreezes in
phase 2 (the Keras-equivalent "tail"), and its preprocessing defaults, taken from the weights'
own metadata rather than retyped.

Names: ``vgg16``, ``mobilenet_v2`` (torchvision), ``baseline`` (a small CNN playing the report's
"previous model") and ``timm/<name>`` for any timm model.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from foodclf.errors import FoodclfError, WeightsError

log = logging.getLogger(__name__)

WEIGHTS_CHOICES = ("imagenet", "none")


@dataclass
class Backbone:
    features: nn.Module
    num_features: int
    tail: list[str]  # names of modules inside ``features`` that the recipe unfreezes
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    image_size: int = 224
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, Callable[[bool], Backbone]] = {}


def register_backbone(fn: Callable[[bool], Backbone]) -> Callable[[bool], Backbone]:
    _REGISTRY[fn.__name__] = fn
    return fn


def list_backbones() -> list[str]:
    return sorted(_REGISTRY) + ["timm/<name>"]


def create_backbone(name: str, weights: str | os.PathLike = "none") -> Backbone:
    """Build backbone ``name`` with ``weights``: 'imagenet', 'none' (random) or a state_dict path."""
    pretrained = str(weights) == "imagenet"
    if name.startswith("timm/"):
        backbone = _timm_backbone(name.removeprefix("timm/"), pretrained)
    elif name in _REGISTRY:
        backbone = _REGISTRY[name](pretrained)
    else:
        raise FoodclfError(f"unknown backbone '{name}': choose one of {', '.join(list_backbones())}")
    if str(weights) not in WEIGHTS_CHOICES:
        load_backbone_weights(backbone.features, Path(weights))
    return backbone


# ----------------------------------------------------------------------------- torchvision

def _torchvision_state_dict(weights_enum, name: str) -> dict:
    """ImageNet weights from torch's hub cache; a clear error when absent and not downloadable."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    filename = os.path.basename(urlparse(weights_enum.url).path)
    try:
        return weights_enum.get_state_dict(progress=True, check_hash=True)
    except Exception as e:  # URLError, OSError, hash mismatch: all mean "not usable here"
        raise WeightsError(
            f"ImageNet weights for {name} are not in {folder} and could not be downloaded ({e}). "
            f"Download {weights_enum.url} and save it as {folder / filename}, "
            "or pass --weights none (random) or --weights PATH"
        ) from e


def _preprocessing_of(weights_enum) -> dict:
    preset = weights_enum.transforms()
    return {
        "mean": tuple(preset.mean),
        "std": tuple(preset.std),
        "interpolation": preset.interpolation.value,
        "image_size": preset.crop_size[0],
    }


@register_backbone
def vgg16(pretrained: bool) -> Backbone:
    from torchvision.models import VGG16_Weights
    from torchvision.models import vgg16 as tv_vgg16

    weights = VGG16_Weights.IMAGENET1K_V1
    model = tv_vgg16()
    if pretrained:
        model.load_state_dict(_torchvision_state_dict(weights, "vgg16"))
    # Keras VGG16(include_top=False) ends at block5_pool: torchvision's ``features``.
    # "Unfreeze the last 5 layers" = block5_conv1..3 (+ pool) = features[24:].
    return Backbone(model.features, 512, tail=[str(i) for i in range(24, len(model.features))],
                    **_preprocessing_of(weights))


@register_backbone
def mobilenet_v2(pretrained: bool) -> Backbone:
    from torchvision.models import MobileNet_V2_Weights
    from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

    weights = MobileNet_V2_Weights.IMAGENET1K_V1
    model = tv_mobilenet_v2()
    if pretrained:
        model.load_state_dict(_torchvision_state_dict(weights, "mobilenet_v2"))
        # Keras' MobileNetV2 BatchNorm keeps 0.999 of its running stats per step: PyTorch
        # momentum 0.001. Only for pretrained stats; from scratch it would never converge.
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.001
    # Keras "all layers after the first 149" = block_16_project, its BN, Conv_1 (+BN, ReLU).
    return Backbone(model.features, 1280, tail=["17.conv.2", "17.conv.3", "18"], **_preprocessing_of(weights))


@register_backbone
def baseline(pretrained: bool) -> Backbone:
    """A small CNN standing in for the report's "previous model": small on disk, less accurate."""
    if pretrained:
        raise WeightsError("baseline has no ImageNet weights: pass --weights none or --weights PATH")

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                             nn.ReLU(inplace=True), nn.MaxPool2d(2))

    features = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 128))
    # Keras-style rescale only (pixels in [0, 1]): no ImageNet statistics to match.
    return Backbone(features, 128, tail=["3"], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


# ----------------------------------------------------------------------------- timm

def _timm_backbone(name: str, pretrained: bool) -> Backbone:
    import timm
    from timm.models import group_modules

    if not timm.is_model(name):
        raise FoodclfError(f"unknown timm model '{name}': see timm.list_models() for the valid names")
    try:
        # num_classes=0 keeps timm's own pooling and drops its classifier: features come out as (N, C).
        model = timm.create_model(name, pretrained=pretrained, num_classes=0)
    except Exception as e:
        if not pretrained:
            raise
        raise WeightsError(
            f"ImageNet weights for timm/{name} are not cached and could not be downloaded ({e}); "
            "set HF_HOME to a cache that holds them, or pass --weights none or --weights PATH"
        ) from e
    groups = group_modules(model, model.group_matcher(coarse=True))
    cfg = timm.data.resolve_model_data_config(model)
    interpolation = cfg["interpolation"] if cfg["interpolation"] in ("bilinear", "bicubic", "nearest") else "bilinear"
    return Backbone(model, model.num_features, tail=list(groups[max(groups)]) if groups else [],
                    interpolation=interpolation,
                    mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), image_size=cfg["input_size"][-1])


# ----------------------------------------------------------------------------- weights from a file

def load_backbone_weights(features: nn.Module, path: Path) -> None:
    """Load a state_dict file into ``features``, checking names, shapes and counts before copying.

    Accepts a foodclf ``model.pt`` (``backbone.*`` keys), a full torchvision model (``features.*``)
    or a bare backbone state_dict.
    """
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found; pass --weights imagenet, none or an existing file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a PyTorch state_dict ({e})") from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    for prefix in ("model.backbone.", "backbone.", "features."):
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            break
    own = features.state_dict()
    missing = [k for k in own if k not in state]
    wrong_shape = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                   if k in state and state[k].shape != v.shape]
    if missing or wrong_shape:
        raise WeightsError(
            f"{path}: does not fit this backbone ({len(missing)} missing tensors, e.g. {missing[:3]}; "
            f"{len(wrong_shape)} with other shapes, e.g. {wrong_shape[:3]})"
        )
    unused = [k for k in state if k not in own]
    if unused:
        log.info("%s: ignoring %d tensors that are not part of the backbone (e.g. %s)", path, len(unused), unused[:3])
    features.load_state_dict({k: state[k] for k in own})
    log.info("loaded %d backbone tensors from %s", len(own), path)
