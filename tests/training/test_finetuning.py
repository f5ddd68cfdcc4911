import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from foodclf.data.data_config import DataConfig
from foodclf.data.datamodule import FoodDataModule
from foodclf.training.classifier import FoodClassifier
from foodclf.training.finetuning import PhaseFreezing


def _trainable(module):
    return {name for name, p in module.model.named_parameters() if p.requires_grad}


def _count(module):
    return sum(p.numel() for p in module.model.parameters() if p.requires_grad)


@pytest.mark.parametrize("backbone,tail_params", [("vgg16", 7_079_424), ("mobilenet_v2", 720_000)])
def test_trainable_sets_of_each_phase(backbone, tail_params):
    module = FoodClassifier(backbone, 11)
    head_params = sum(p.numel() for p in module.model.head.parameters())

    PhaseFreezing("head").freeze_before_training(module)
    assert _trainable(module) == {"head.weight", "head.bias"}

    PhaseFreezing("tail").freeze_before_training(module)
    assert _count(module) == head_params + tail_params
    prefixes = tuple(f"backbone.{name}." for name in module.model.tail_names) + ("head.",)
    assert all(name.startswith(prefixes) for name in _trainable(module))

    PhaseFreezing("all").freeze_before_training(module)
    assert _count(module) == sum(p.numel() for p in module.model.parameters())


def test_frozen_batchnorm_stays_in_eval_mode_after_train():
    module = FoodClassifier("mobilenet_v2", 11)
    callback = PhaseFreezing("tail")
    callback.freeze_before_training(module)
    module.train()
    callback.on_train_batch_start(None, module, None, 0)
    bns = {name: m for name, m in module.model.backbone.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert bns["17.conv.3"].training and bns["18.1"].training  # the tail's BN trains
    assert not bns["0.1"].training and not bns["17.conv.1.1"].training
    assert all(m.track_running_stats for m in bns.values())


def test_head_phase_changes_only_the_head_in_a_real_fit(sample_data):
    module = FoodClassifier("mobilenet_v2", 11)
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    dm = FoodDataModule(sample_data, DataConfig("mobilenet_v2", 11, image_size=32), batch_size=8)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, callbacks=[PhaseFreezing("head")],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, datamodule=dm)
    after = module.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # BN running statistics included: a frozen Keras BN neither learns nor updates its statistics.
    assert changed == {"head.weight", "head.bias"}


def test_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="head, tail, all"):
        PhaseFreezing("some")


def test_an_unfrozen_batchnorm_trains_again_though_an_earlier_phase_left_it_in_eval():
    """Lightning keeps each module's mode across fits: phase 2 must put unfrozen BN back in training."""
    module = FoodClassifier("mobilenet_v2", 11)
    callback = PhaseFreezing("tail")
    callback.freeze_before_training(module)
    module.eval()  # as phase 1 left every frozen BN layer, the tail's included
    callback.on_train_batch_start(None, module, None, 0)
    bns = {name: m for name, m in module.model.backbone.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert bns["17.conv.3"].training and bns["18.1"].training
    assert not bns["0.1"].training
