"""The export tests' shared fixtures: a copy of the trained run with every variant this CPU can
build, and the sample's evaluation images."""
from __future__ import annotations

import pytest
import torch
from export_support import CALIBRATION_IMAGES, copy_run

from foodclf.data.datasets import FoodImageDataset, list_split
from foodclf.data.transforms import EvalPreset
from foodclf.export.variants import available_formats, export_variants


@pytest.fixture(scope="session")
def exported(trained_run, sample_data, tmp_path_factory):
    """(run folder, {format: variant folder}) with every format this CPU can build, not evaluated."""
    run_dir = copy_run(trained_run, tmp_path_factory.mktemp("export") / "food")
    formats = available_formats()
    folders = export_variants(run_dir, formats, sample_data, calibration_images=CALIBRATION_IMAGES, evaluate=False)
    return run_dir, dict(zip(formats, folders, strict=True))


@pytest.fixture(scope="session")
def evaluation_batch(trained_run, sample_data):
    """(images, labels) of the sample's evaluation split, prepared as evaluation does."""
    dataset = FoodImageDataset(list_split(sample_data, "evaluation").samples, EvalPreset(trained_run.data_config))
    pairs = [dataset[i] for i in range(len(dataset))]
    return torch.stack([image for image, _ in pairs]), torch.tensor([label for _, label in pairs])
