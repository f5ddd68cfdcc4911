"""The exceptions foodclf raises: each message names the file or field and says what to do."""


class FoodclfError(Exception):
    """Base class: a problem the user can fix (bad data, missing files, bad options)."""


class DatasetError(FoodclfError):
    """A dataset folder, split, class or image is missing, empty or unreadable."""


class RunDirError(FoodclfError):
    """A run directory lacks a file that an earlier stage should have written, or it is invalid."""


class WeightsError(FoodclfError):
    """Pretrained weights are unavailable or do not fit the model."""


class SchemaError(FoodclfError):
    """A JSON contract file (data_config.json, metrics.json, loadtest.json, ...) is malformed."""
