"""Atomic file writes and JSON reads (the contracts between stages are validated by foodclf.contracts).

Every output is written to a temporary file in the same folder and renamed into place, so a
crash or a Ctrl-C never leaves a half-written file that a later stage would trust.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from foodclf.errors import SchemaError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _readable(tmp: str | os.PathLike) -> None:
    # mkstemp creates 0600 files; outputs are for people and servers to read, like open() would make them.
    os.chmod(tmp, 0o666 & ~_umask())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    _readable(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_csv(path: str | os.PathLike, fieldnames: Sequence[str], rows: Iterable[dict]) -> Path:
    """A CSV file with a header row, written atomically; rows are dicts keyed by ``fieldnames``
    (a missing key is an empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def atomic_save(path: str | os.PathLike, save: Callable[[Path], None]) -> Path:
    """Run ``save(tmp_path)`` (e.g. torch.save, fig.savefig) and rename the result into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    _readable(tmp)
    try:
        save(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises SchemaError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SchemaError(f"{path}: not valid JSON ({e}); rerun the stage that writes it") from e

