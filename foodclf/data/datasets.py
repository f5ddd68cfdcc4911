"""Finding the images of a split: Food-11's flat layout or a class-per-folder layout.

Food-11 as published::

    DATA/training/0_0.jpg  DATA/training/0_1.jpg ... DATA/validation/...  DATA/evaluation/...

with files named ``<classid>_<idx>.jpg`` and class ids 0..10 in FOOD11_CLASSES order. Any other
dataset can use torchvision's ImageFolder layout, ``DATA/<split>/<class name>/<image>``, with any
number of classes. Split folders may also be called train/val/test.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset
from torchvision.datasets.folder import find_classes, make_dataset
from tqdm.auto import tqdm

from foodclf.data.images import ImageDecodeError, open_rgb
from foodclf.errors import DatasetError

log = logging.getLogger(__name__)

FOOD11_CLASSES = (
    "Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat",
    "Noodles/Pasta", "Rice", "Seafood", "Soup", "Vegetable/Fruit",
)
SPLITS = ("training", "validation", "evaluation")
SPLIT_ALIASES = {
    "training": ("training", "train"),
    "validation": ("validation", "val", "valid"),
    "evaluation": ("evaluation", "test", "eval"),
}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
FLAT_NAME = re.compile(r"^(\d+)_(\d+)\.(jpe?g|png)$", re.IGNORECASE)


@dataclass
class SplitListing:
    """The images of one split and the class names they are labelled with."""

    split_dir: Path
    layout: str  # "food11" or "folders"
    classes: tuple[str, ...]
    samples: list[tuple[Path, int]]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def find_split_dir(data_root: str | Path, split: str) -> Path:
    data_root = Path(data_root)
    if split not in SPLIT_ALIASES:
        raise DatasetError(f"unknown split '{split}': choose one of {', '.join(SPLITS)}")
    if not data_root.is_dir():
        raise DatasetError(f"{data_root}: dataset folder not found; "
                           f"pass --data with a folder holding {', '.join(SPLITS)}/")
    for name in SPLIT_ALIASES[split]:
        if (data_root / name).is_dir():
            return data_root / name
    raise DatasetError(
        f"{data_root / split}: split folder not found (also looked for {', '.join(SPLIT_ALIASES[split][1:])}); "
        f"a dataset needs {', '.join(SPLITS)}/ folders"
    )


def detect_layout(split_dir: Path) -> str:
    entries = list(split_dir.iterdir())
    if any(e.is_dir() and not e.name.startswith(".") for e in entries):
        return "folders"
    if any(FLAT_NAME.match(e.name) for e in entries):
        return "food11"
    raise DatasetError(
        f"{split_dir}: no images found; expected Food-11 files named <classid>_<idx>.jpg "
        "or one sub-folder per class"
    )


def list_split(
    data_root: str | Path,
    split: str,
    check_images: bool = True,
    skip_bad_images: bool = False,
) -> SplitListing:
    """List a split's (path, class index) pairs; every bad input raises a DatasetError naming it."""
    split_dir = find_split_dir(data_root, split)
    layout = detect_layout(split_dir)
    if layout == "food11":
        classes, samples = FOOD11_CLASSES, _list_food11(split_dir)
    else:
        classes, samples = _list_folders(split_dir)
    listing = SplitListing(split_dir, layout, tuple(classes), samples)
    if check_images:
        _drop_bad_images(listing, skip_bad_images)
    return listing


def check_classes(listing: SplitListing, expected: Sequence[str], expected_from: str, fix: str) -> None:
    """DatasetError unless the split has exactly the ``expected`` classes in that order (a model's
    outputs are indices into that list). The message names the classes missing and unexpected,
    the two counts, or the other order; ``expected_from`` says whose classes they are
    ("the model's (RUN/classes.json)") and ``fix`` what to do ("evaluate on ...")."""
    found, expected = list(listing.classes), list(expected)
    if found == expected:
        return
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    detail = [f"{len(found)} classes, expected {len(expected)}"] if len(found) != len(expected) else []
    if missing:
        detail.append(f"missing {missing}")
    if extra:
        detail.append(f"unexpected {extra}")
    if not missing and not extra and len(found) == len(expected):
        detail.append(f"same names in another order: {found}")
    raise DatasetError(f"{listing.split_dir}: classes differ from {expected_from} ({'; '.join(detail)}); "
                       f"{fix}: {expected}")


def _list_food11(split_dir: Path) -> list[tuple[Path, int]]:
    samples = []
    for path in sorted(split_dir.iterdir()):
        match = FLAT_NAME.match(path.name)
        if not match:
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                raise DatasetError(f"{path}: Food-11 files must be named <classid>_<idx>{path.suffix}")
            continue
        class_id = int(match.group(1))
        if class_id >= len(FOOD11_CLASSES):
            raise DatasetError(
                f"{path}: class id {class_id} is not a Food-11 class (0..{len(FOOD11_CLASSES) - 1}); "
                "use one folder per class for other datasets"
            )
        samples.append((path, class_id))
    counts = [0] * len(FOOD11_CLASSES)
    for _, class_id in samples:
        counts[class_id] += 1
    empty = [f"{i} ({FOOD11_CLASSES[i]})" for i, n in enumerate(counts) if n == 0]
    if empty:
        raise DatasetError(f"{split_dir}: no images for class {', '.join(empty)}; "
                           "every class needs images in every split")
    return samples


def _list_folders(split_dir: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes, class_to_idx = find_classes(str(split_dir))
    for name in classes:
        folder = split_dir / name
        if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.rglob("*") if p.is_file()):
            raise DatasetError(f"{folder}: class folder holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                               "add images or remove it")
    if len(classes) < 2:
        raise DatasetError(f"{split_dir}: found {len(classes)} class folder(s); a classifier needs at least 2")
    pairs = make_dataset(str(split_dir), class_to_idx, extensions=IMAGE_EXTENSIONS)
    return list(classes), [(Path(p), i) for p, i in pairs]


def _drop_bad_images(listing: SplitListing, skip_bad_images: bool) -> None:
    """Decode every image cheaply (JPEG draft mode) so a corrupt file fails now, with its name."""
    good, bad = [], []
    for path, label in tqdm(listing.samples, desc=f"checking {listing.split_dir.name}", unit="img",
                            leave=False, disable=len(listing.samples) < 2000):
        try:
            open_rgb(path, draft_size=(8, 8))
            good.append((path, label))
        except ImageDecodeError as e:
            bad.append((path, str(e)))
    if bad and not skip_bad_images:
        shown = "\n  ".join(reason for _, reason in bad[:10])
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise DatasetError(
            f"{listing.split_dir}: {len(bad)} unreadable image(s):\n  {shown}{more}\n"
            "fix or remove them, or pass --skip-bad-images to leave them out with a warning"
        )
    if bad:
        log.warning("skipped %d unreadable image(s) in %s: %s", len(bad), listing.split_dir,
                    ", ".join(str(p) for p, _ in bad))
    listing.samples, listing.skipped = good, bad


class FoodImageDataset(Dataset):
    """(image tensor, class index) pairs of a split listing, through a transform."""

    def __init__(self, samples: list[tuple[Path, int]], transform=None):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            image = open_rgb(path)
        except ImageDecodeError as e:
            raise DatasetError(str(e)) from e
        return (self.transform(image) if self.transform else image), label
