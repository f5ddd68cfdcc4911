"""Load profiles as data: a list of stages, each (duration, users, delay) with siege's meaning.

A stage runs ``users`` closed-loop users for ``duration_s`` seconds; each user waits a random
time between 0 and ``delay_s`` seconds before each request (siege's ``-c`` and ``-d``). The
load test (foodclf.loadtest.runner) drives a real server through these stages and the HPA simulation
replays the same stages against a model of the cluster, so both import ``CHALLENGE_PROFILE``
from here.

A profile file is JSON (a list of ``{"duration": "60s", "users": 20, "delay": 100}`` objects or
``[duration, users, delay]`` triples, or ``{"stages": [...]}``) or CSV with the header
``duration,users,delay``. Durations are seconds or strings such as ``90``, ``30s``, ``2m``,
``1m30s``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from foodclf.errors import FoodclfError


@dataclass(frozen=True)
class Stage:
    duration_s: float
    users: int
    delay_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def _challenge_stages() -> tuple[Stage, ...]:
    # The course's challenge: 30 one-minute siege runs, written as runs x (delay s, users).
    runs = [(5, 100, 20), (2, 50, 20), (2, 10, 20), (1, 3, 20), (5, 1, 20),
            (5, 1, 30), (1, 3, 20), (2, 60, 20), (7, 80, 20)]
    return tuple(Stage(60.0, users, float(delay)) for count, delay, users in runs for _ in range(count))


CHALLENGE_PROFILE: tuple[Stage, ...] = _challenge_stages()
PROFILES: dict[str, tuple[Stage, ...]] = {"challenge": CHALLENGE_PROFILE}

_DURATION = re.compile(r"^\s*(?:(?P<h>\d+(?:\.\d+)?)h)?\s*(?:(?P<m>\d+(?:\.\d+)?)m)?\s*"
                       r"(?:(?P<s>\d+(?:\.\d+)?)s?)?\s*$")


def parse_duration(value: str | float | int, allow_zero: bool = False) -> float:
    """Seconds from ``90``, ``"90"``, ``"30s"``, ``"2m"``, ``"1m30s"`` or ``"1h"``; ``"0s"`` only
    with ``allow_zero`` (an optional pause, not a stage)."""
    if isinstance(value, bool):
        raise FoodclfError(f"duration {value!r}: expected seconds or a string like 30s, 2m, 1m30s")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match or not any(match.groupdict().values()):
            raise FoodclfError(f"duration {value!r}: expected seconds or a string like 30s, 2m, 1m30s")
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        seconds = parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
    if not (seconds > 0 or (allow_zero and seconds == 0)):
        raise FoodclfError(f"duration {value!r}: must be {'0 or ' if allow_zero else ''}more than 0 seconds")
    return seconds


def make_stage(duration: str | float, users: Any, delay: Any, where: str = "stage") -> Stage:
    """One validated stage; ``where`` names the stage in error messages."""
    try:
        duration_s = parse_duration(duration)
    except FoodclfError as e:
        raise FoodclfError(f"{where}: {e}") from None
    if isinstance(users, bool) or not _is_number(users) or float(users) != int(float(users)) or int(float(users)) < 1:
        raise FoodclfError(f"{where}: users must be a whole number of at least 1, got {users!r}")
    if isinstance(delay, bool) or not _is_number(delay) or float(delay) < 0:
        raise FoodclfError(f"{where}: delay must be a number of seconds, 0 or more, got {delay!r}")
    return Stage(duration_s, int(float(users)), float(delay))


def scale_profile(stages: Iterable[Stage], time_scale: float) -> list[Stage]:
    """Shrink (or stretch) every stage's duration; users and delays stay, so each stage's
    load intensity is kept and only the number of requests shrinks."""
    if not time_scale > 0:
        raise FoodclfError(f"time scale must be more than 0, got {time_scale!r}")
    return [Stage(s.duration_s * time_scale, s.users, s.delay_s) for s in stages]


def parse_profile(spec: str | os.PathLike | Sequence[Any], time_scale: float = 1.0) -> list[Stage]:
    """Stages from a profile name (``challenge``), a JSON/CSV file, or a list already in memory
    (Stage objects, dicts with duration/users/delay, or triples), scaled by ``time_scale``."""
    if isinstance(spec, (str, os.PathLike)):
        name = str(spec)
        if name in PROFILES:
            stages: list[Stage] = list(PROFILES[name])
        else:
            stages = _read_profile_file(Path(name))
    else:
        stages = _stages_from_items(spec, "profile")
    if not stages:
        raise FoodclfError(f"profile {spec!r} has no stages")
    return scale_profile(stages, time_scale)


def total_duration(stages: Iterable[Stage]) -> float:
    return sum(s.duration_s for s in stages)


def _read_profile_file(path: Path) -> list[Stage]:
    if not path.is_file():
        raise FoodclfError(f"profile {path}: no such file and not a known profile "
                           f"(known: {', '.join(PROFILES)}); give a JSON or CSV file of duration,users,delay")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        missing = {"duration", "users", "delay"} - set(rows[0] if rows else {})
        if missing:
            raise FoodclfError(f"profile {path}: CSV needs the header duration,users,delay (missing {sorted(missing)})")
        return _stages_from_items(rows, f"profile {path}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FoodclfError(f"profile {path}: not valid JSON ({e}); use a list of "
                           '{"duration": "60s", "users": 20, "delay": 1} or a CSV file') from e
    if isinstance(data, dict) and "stages" in data:
        data = data["stages"]
    return _stages_from_items(data, f"profile {path}")


def _stages_from_items(items: Any, where: str) -> list[Stage]:
    if not isinstance(items, (list, tuple)):
        raise FoodclfError(f"{where}: expected a list of stages, got {type(items).__name__}")
    stages = []
    for i, item in enumerate(items, start=1):
        here = f"{where}, stage {i}"
        if isinstance(item, Stage):
            stages.append(make_stage(item.duration_s, item.users, item.delay_s, here))
        elif isinstance(item, dict):
            missing = [k for k in ("duration", "users", "delay") if k not in item and f"{k}_s" not in item]
            if missing:
                raise FoodclfError(f"{here}: missing {', '.join(missing)}")
            stages.append(make_stage(item.get("duration", item.get("duration_s")), item["users"],
                                     item.get("delay", item.get("delay_s")), here))
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            stages.append(make_stage(*item, where=here))
        else:
            raise FoodclfError(f"{here}: expected {{duration, users, delay}} or a [duration, users, delay] triple")
    return stages


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
