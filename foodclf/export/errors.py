"""The export stage's error (its own module: the builders and the orchestration both raise it)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from foodclf.errors import FoodclfError


class ExportError(FoodclfError):
    """A variant could not be built or evaluated. ``built`` lists the variant folders that were."""

    def __init__(self, message: str, built: Sequence[Path] = ()):
        super().__init__(message)
        self.built = list(built)
