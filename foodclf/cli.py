"""What every script shares: logging to the terminal, and user errors printed as one line."""
from __future__ import annotations

import logging
import sys
from typing import Callable

from foodclf.errors import FoodclfError


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call ``main``; a FoodclfError prints 'error: ...' and exits 2 instead of a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return main(argv) or 0
    except FoodclfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
