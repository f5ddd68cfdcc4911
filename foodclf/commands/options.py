"""Command-line options generated from a dataclass's fields, so that a config class is the one
place where an option, its type, default and help are written.

A field's metadata may hold ``help``, ``choices``, ``group`` (an argparse group title),
``required`` and ``cli: False`` (not an option). ``bool`` fields become --flag / --no-flag.
"""
from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, Field, fields
from typing import Any


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--kebab-name`` option per field of ``cls`` (defaults are the dataclass's)."""
    hints = typing.get_type_hints(cls)
    groups: dict[str, Any] = {}
    for f in fields(cls):
        if f.metadata.get("cli", True) is False:
            continue
        title = f.metadata.get("group")
        target = groups.setdefault(title, parser.add_argument_group(title)) if title else parser
        target.add_argument(f"--{f.name.replace('_', '-')}", **_argument(f, hints[f.name]))


def config_from_args(cls: type, args: argparse.Namespace, **overrides):
    """An instance of ``cls`` from the parsed options (fields without an option keep their default)."""
    values = {f.name: getattr(args, f.name) for f in fields(cls)
              if f.metadata.get("cli", True) is not False and getattr(args, f.name) is not None}
    return cls(**{**values, **overrides})


def _argument(f: Field, hint: Any) -> dict:
    default = None if f.default is MISSING else f.default
    kwargs = {"help": _help(f, default), "default": default}
    if f.metadata.get("required"):
        kwargs["required"] = True
    if hint is bool:
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    if "choices" in f.metadata:
        kwargs["choices"] = f.metadata["choices"]
    kwargs["type"] = _scalar(hint)
    return kwargs


def _scalar(hint: Any):
    """int, float or str from a field's type (``int | None`` -> int; ``str | int`` -> str)."""
    options = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if len(options) == 1 and options[0] in (int, float):
        return options[0]
    return str


def _help(f: Field, default: Any) -> str:
    text = f.metadata.get("help", "")
    if default is not None and default != "" and not isinstance(default, bool):
        text += f" (default: {default})"
    return text
