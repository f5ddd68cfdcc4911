import logging
import shutil

import pytest
from PIL import Image

from foodclf.data.data_config import DataConfig
from foodclf.data.datamodule import FoodDataModule, discover_classes
from foodclf.data.datasets import FOOD11_CLASSES, FoodImageDataset, SplitListing, check_classes, list_split
from foodclf.errors import DatasetError


def _folder_dataset(root, classes=("apple", "pie", "soup"), per_class=3,
                    splits=("training", "validation", "evaluation")):
    for split in splits:
        for i, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for j in range(per_class):
                Image.new("RGB", (20 + j, 16), (40 * i, 100, 200 - 40 * i)).save(folder / f"{j}.png")
    return root


def test_food11_flat_layout_gives_food11_names_in_id_order(sample_data):
    listing = list_split(sample_data, "training")
    assert listing.layout == "food11"
    assert listing.classes == FOOD11_CLASSES
    assert len(listing.samples) == 11 * 12
    assert {label for _, label in listing.samples} == set(range(11))
    path, label = next((p, i) for p, i in listing.samples if p.name == "3_0.jpg")
    assert label == 3 and FOOD11_CLASSES[label] == "Egg"


def test_folder_layout_with_any_number_of_classes_and_split_aliases(tmp_path):
    root = _folder_dataset(tmp_path, splits=("train", "val", "test"))
    listing = list_split(root, "evaluation")
    assert listing.layout == "folders"
    assert listing.classes == ("apple", "pie", "soup")
    assert len(listing.samples) == 9
    assert discover_classes(root) == ("apple", "pie", "soup")


def test_missing_split_names_the_path(tmp_path):
    (tmp_path / "training").mkdir()
    with pytest.raises(DatasetError, match=r"validation.*split folder not found"):
        list_split(tmp_path, "validation")


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        list_split(tmp_path / "nope", "training")


def test_empty_class_folder_is_named(tmp_path):
    root = _folder_dataset(tmp_path)
    for f in (root / "training" / "pie").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match=r"training/pie: class folder holds no images"):
        list_split(root, "training")


def test_food11_class_without_images_is_named(sample_data, tmp_path):
    split = tmp_path / "training"
    shutil.copytree(sample_data / "training", split)
    for f in split.glob("4_*.jpg"):
        f.unlink()
    with pytest.raises(DatasetError, match=r"no images for class 4 \(Fried food\)"):
        list_split(tmp_path, "training")


def test_corrupt_image_fails_with_its_name(tmp_path):
    root = _folder_dataset(tmp_path)
    bad = root / "training" / "soup" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(DatasetError, match=r"(?s)broken\.jpg.*--skip-bad-images"):
        list_split(root, "training")


def test_truncated_jpeg_fails_with_its_name(tmp_path):
    root = _folder_dataset(tmp_path)
    good = root / "training" / "pie" / "big.jpg"
    Image.effect_noise((256, 256), 60).convert("RGB").save(good, quality=95)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"big\.jpg"):
        list_split(root, "training")


def test_skip_bad_images_warns_and_lists_what_was_skipped(tmp_path, caplog):
    root = _folder_dataset(tmp_path)
    (root / "training" / "soup" / "broken.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        listing = list_split(root, "training", skip_bad_images=True)
    assert len(listing.samples) == 9
    assert [p.name for p, _ in listing.skipped] == ["broken.jpg"]
    assert "broken.jpg" in caplog.text


def test_datamodule_rejects_splits_whose_classes_differ(tmp_path):
    root = _folder_dataset(tmp_path)
    shutil.rmtree(root / "validation" / "soup")
    (root / "validation" / "stew").mkdir()
    Image.new("RGB", (8, 8)).save(root / "validation" / "stew" / "0.png")
    dm = FoodDataModule(root, DataConfig("baseline", 3, image_size=16))
    with pytest.raises(DatasetError, match=r"missing \['soup'\]; unexpected \['stew'\]"):
        dm.setup("fit")


def test_datamodule_batches_have_the_config_size(sample_data):
    dm = FoodDataModule(sample_data, DataConfig("baseline", 11, image_size=24), batch_size=5)
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (5, 3, 24, 24) and labels.shape == (5,)
    images, _ = next(iter(dm.test_dataloader()))
    assert images.shape == (5, 3, 24, 24)


def test_dataset_item_is_rgb_even_for_grayscale_files(tmp_path):
    path = tmp_path / "g.png"
    Image.new("L", (10, 12), 77).save(path)
    image, label = FoodImageDataset([(path, 2)])[0]
    assert image.mode == "RGB" and image.size == (10, 12) and label == 2


@pytest.mark.parametrize("found, message", [
    (("a", "b", "c"), None),
    (("b", "a", "c"), r"same names in another order: \['b', 'a', 'c'\]"),
    (("a", "b"), r"2 classes, expected 3; missing \['c'\]"),
    (("a", "b", "x"), r"missing \['c'\]; unexpected \['x'\]"),
])
def test_check_classes_says_how_the_classes_differ(tmp_path, found, message):
    listing = SplitListing(tmp_path / "evaluation", "folders", found, [])
    if message is None:
        check_classes(listing, ["a", "b", "c"], "the model's", "use its dataset")
        return
    with pytest.raises(DatasetError, match=message) as error:
        check_classes(listing, ["a", "b", "c"], "the model's", "use its dataset")
    assert str(error.value).startswith(f"{tmp_path / 'evaluation'}: classes differ from the model's (")
    assert str(error.value).endswith("; use its dataset: ['a', 'b', 'c']")
