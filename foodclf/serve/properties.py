"""TorchServe's config.properties: the one foodclf ships, reading it, and writing a copy with
some keys replaced (a server's own addresses, model store and models)."""
from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foodclf.io import atomic_write_text
from foodclf.serve.errors import ServeError

# config.properties and log4j2.xml ship inside the package (setup.cfg's package_data), so a
# wheel installs them beside this module.
PACKAGE_DIR = Path(str(importlib.resources.files("foodclf.serve")))
DEFAULT_CONFIG = PACKAGE_DIR / "config.properties"
# The frontend's logging: TorchServe's own files, without its lines for every request.
DEFAULT_LOG_CONFIG = PACKAGE_DIR / "log4j2.xml"


def read_properties(path: str | os.PathLike) -> dict[str, str]:
    """key=value lines of a Java properties file (TorchServe reads no continuation lines)."""
    path = Path(path)
    if not path.is_file():
        raise ServeError(f"{path}: TorchServe config not found; pass config= or reinstall foodclf, "
                         "whose foodclf/serve/ holds the default one")
    props = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def write_properties(base: str | os.PathLike, overrides: Mapping[str, Any], path: Path) -> Path:
    """Copy ``base`` with ``overrides`` replacing its keys (new keys appended) to ``path``."""
    read_properties(base)  # names the file if it is missing
    lines, done = [], set()
    for line in Path(base).read_text(encoding="utf-8").splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in overrides:
            lines.append(f"{key}={overrides[key]}")
            done.add(key)
        else:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in overrides.items() if key not in done]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
