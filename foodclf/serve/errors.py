"""The serving stage's error: one type for every way a TorchServe start can fail."""
from foodclf.errors import FoodclfError


class ServeError(FoodclfError):
    """TorchServe did not start, a model did not load, or the configuration is unusable."""
