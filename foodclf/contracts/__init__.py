"""The JSON files between the stages, each defined once as a typed model.

A contract is a dataclass made with ``@contract`` (nested contracts, lists, dicts, ``X | None``)
in a module of this package, one module per file (``metrics``, ``loadtest``, ``simulation``,
``variant``, ``comparison``, ``data_config``, ``image``, ``sim_check``: check.json, ``scaling``:
scaling.json). The writer builds the dataclass and calls ``write``; every reader calls ``read``
and gets the same dataclass back, validated by pydantic (types, required fields, no unknown
fields, numbers that are not booleans). A bad file raises SchemaError naming
the file, the field and what to do. docs/contracts.md documents every field; a test checks it
against these models.

Nothing here imports torch or scikit-learn: the comparison and the simulation read these files
in processes that never load a model.
"""
from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from foodclf.errors import SchemaError
from foodclf.io import atomic_write_json, read_json

T = TypeVar("T")

# strict: "1" is not 1 and true is not 1; forbid: a misspelt field is an error, not silently dropped.
STRICT = ConfigDict(strict=True, extra="forbid")


def contract(cls: type[T]) -> type[T]:
    """A plain dataclass that pydantic validates strictly: use it for every class of a contract,
    the nested ones too (each carries its own config)."""
    cls.__pydantic_config__ = STRICT
    return dataclasses.dataclass(cls)


@cache
def adapter(model: type) -> TypeAdapter:
    """The pydantic validator of a contract dataclass (built once per model)."""
    if not dataclasses.is_dataclass(model):
        raise TypeError(f"{model!r} is not a dataclass contract")
    return TypeAdapter(model)


def validate(data: Any, model: type[T], source: str | os.PathLike) -> T:
    """``data`` (parsed JSON) as a ``model`` instance; SchemaError naming ``source`` and the field."""
    try:
        # JSON mode: strict about types (true is no number, "1" no int) yet arrays fill tuples.
        return adapter(model).validate_json(json.dumps(data), strict=True)
    except (ValidationError, TypeError, ValueError) as e:
        if not isinstance(e, ValidationError):  # data that is not JSON at all (a writer's bug)
            raise SchemaError(f"{source}: not JSON-serialisable ({e})") from e
        raise SchemaError(f"{source}: {describe_errors(e)}; rerun the stage that writes it") from e


def read(path: str | os.PathLike, model: type[T], version: int | None = None,
         fix: str = "rerun the stage that writes it") -> T:
    """Read and validate a contract file (SchemaError when missing, not JSON or not the model).

    With ``version``, a file of another schema_version is refused before its fields are checked
    (a missing field of a newer version would say less than the version does); ``fix`` says what
    rewrites the file.
    """
    data = read_json(path)
    found = data.get("schema_version") if isinstance(data, dict) else None
    if version is not None and isinstance(found, int) and not isinstance(found, bool) and found != version:
        raise SchemaError(f"{path}: schema_version {found} is not supported (expected {version}); {fix}")
    return validate(data, model, path)


def created_now() -> str:
    """A contract's ``created`` field: now, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")  # noqa: UP017 (datetime.UTC: 3.11+)


def file_in(path_or_dir: str | os.PathLike, file_name: str) -> Path:
    """``file_name`` inside a folder, or the path itself when it names a file."""
    path = Path(path_or_dir)
    return path / file_name if path.is_dir() else path


def to_json(value: Any) -> Any:
    """A contract instance as JSON-ready data (dicts, lists, numbers, strings), fields in order."""
    return adapter(type(value)).dump_python(value, mode="json")


def write(path: str | os.PathLike, value: Any) -> Path:
    """Write a contract instance atomically (validated first: a writer cannot break its own contract)."""
    data = to_json(value)
    validate(data, type(value), path)
    return atomic_write_json(path, data)


def json_schema(model: type) -> dict:
    """The JSON Schema of a contract (for docs and for people writing these files by hand)."""
    return adapter(model).json_schema()


def field_paths(model: type) -> list[str]:
    """Every field of a contract as a dotted path ("operational.latency_ms.p95"); lists and dicts
    of dataclasses contribute their items' fields ("per_class[].accuracy")."""
    return _field_paths(model, "")


def describe_errors(error: ValidationError, limit: int = 3) -> str:
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = "unknown field" if item["type"] == "unexpected_keyword_argument" else item["msg"].lower()
        parts.append(f"field '{where}': {message}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _field_paths(model: type, prefix: str) -> list[str]:
    import typing

    paths = []
    hints = typing.get_type_hints(model)
    for f in dataclasses.fields(model):
        path = f"{prefix}{f.name}"
        paths.append(path)
        for inner, suffix in _nested_dataclasses(hints[f.name]):
            paths.extend(_field_paths(inner, f"{path}{suffix}."))
    return paths


def _nested_dataclasses(hint: Any) -> list[tuple[type, str]]:
    import typing

    if dataclasses.is_dataclass(hint):
        return [(hint, "")]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple):
        return [(inner, "[]" + s) for a in args for inner, s in _nested_dataclasses(a)]
    if origin is dict:
        return [(inner, "{}" + s) for inner, s in _nested_dataclasses(args[-1])]
    return [found for a in args for found in _nested_dataclasses(a)]  # X | None, Union
