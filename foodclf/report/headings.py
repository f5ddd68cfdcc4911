"""What each column of the report's tables measured: its unit, what the number is, and under what load.

A one-replica figure and a deployment figure of the same criterion come from different
measurements (a load test of one replica, a simulated cluster under a profile), so the report
gives each scope its own table and each column a heading that says which, e.g.
"Transaction rate (/s, one replica, 10 users)" or "(/s, deployment under the challenge profile)".
The setting is read from the stage files; runs that differ are all named.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from foodclf.contracts.loadtest import LoadTest
from foodclf.report.candidates import RunInputs
from foodclf.report.criteria import Criterion

LOAD_FILES = ("loadtest", "simulation")   # figures measured under load: their heading names the load


@dataclass(frozen=True)
class Heading:
    """A column heading: the label, and in brackets its unit and what was measured."""

    label: str
    detail: str = ""      # "/s, one replica, 10 users"; empty for the name columns

    @property
    def text(self) -> str:
        return f"{self.label} ({self.detail})" if self.detail else self.label


def scope_settings(runs: Sequence[RunInputs]) -> dict[str, str]:
    """``{kind: setting}``: 'one replica, 10 users' and 'deployment under the challenge profile'."""
    loads = _distinct(_load_test_setting(r.loadtest) for r in runs if r.loadtest is not None)
    profiles = _distinct(s.profile for r in runs for s in r.simulations.values())
    return {"model": "one replica, " + (" / ".join(loads) or "load test"),
            "deployment": "deployment under the " + (" / ".join(profiles) or "simulated") + " profile"}


def peak_loads(runs: Sequence[RunInputs]) -> list[float]:
    """The simulations' peak loads (busiest demand / one replica's capacity), distinct and sorted."""
    return sorted({round(s.load.peak_load, 1) for r in runs for s in r.simulations.values()})


def column_heading(criterion: Criterion, kind: str, setting: str, threshold: str) -> Heading:
    """The heading of ``criterion``'s column in the ``kind`` table ('model' or 'deployment')."""
    source = criterion.sources[kind]
    parts = [criterion.unit, criterion.measure]
    if "image" in source.files[:-1]:
        parts.append("in the image where checked")
    if (source.file, source.path) == ("derived", "bad_class_count") and threshold:
        parts.append(f"class accuracy < {threshold}")
    if any(file in LOAD_FILES for file in source.files):
        parts.append(setting)
    return Heading(criterion.label, ", ".join(p for p in parts if p))


def _load_test_setting(loadtest: LoadTest) -> str:
    if loadtest.mode == "profile":
        return f"{loadtest.profile or 'custom'} profile"
    if loadtest.mode == "capacity":
        return "capacity sweep"
    users = sorted({stage.users for stage in loadtest.stages})
    count = f"{users[0]}" if len(users) == 1 else f"{users[0]}–{users[-1]}"
    return f"{count} user" + ("" if users == [1] else "s")


def _distinct(items) -> list[str]:
    """In first-seen order, each once."""
    return list(dict.fromkeys(items))
