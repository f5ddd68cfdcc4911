"""Pareto efficiency over named candidates: pure functions, no files, no plotting.

A candidate is a name and a mapping ``criterion name -> value`` (a number, or None/NaN when
it was not measured). Each criterion says whether higher or lower is better.

Rules (docs/compare.md repeats them):
- ``a`` dominates ``b`` when ``a`` is at least as good on every criterion and strictly better
  on at least one. Equal points therefore never dominate each other: both stay efficient.
- A criterion that no candidate has a value for is dropped from the set (reported as unused).
- A candidate lacking a value for any remaining criterion is excluded from the set and
  reported with the criteria it lacks: it is neither efficient nor dominated, because a
  comparison on fewer criteria would claim more than was measured.
- Every dominated candidate names one efficient candidate that dominates it (dominance is a
  strict partial order on finite sets, so one always exists): the first in input order.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

HIGHER = "higher"
LOWER = "lower"
DIRECTIONS = (HIGHER, LOWER)

Point = Mapping[str, "float | None"]


@dataclass
class ParetoResult:
    """The outcome of one Pareto comparison; names keep the input order."""

    criteria: list[str]                                            # criteria actually compared
    efficient: list[str] = field(default_factory=list)
    dominated_by: dict[str, str] = field(default_factory=dict)     # dominated -> one efficient dominator
    excluded: dict[str, list[str]] = field(default_factory=dict)   # candidate -> criteria it lacks
    unused: list[str] = field(default_factory=list)                # criteria no candidate has

    def status(self, name: str) -> str:
        if name in self.efficient:
            return "efficient"
        if name in self.dominated_by:
            return f"dominated by {self.dominated_by[name]}"
        if name in self.excluded:
            return "not compared (lacks " + ", ".join(self.excluded[name]) + ")"
        return "unknown"


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def at_least_as_good(a: float, b: float, better: str) -> bool:
    return a >= b if better == HIGHER else a <= b


def strictly_better(a: float, b: float, better: str) -> bool:
    return a > b if better == HIGHER else a < b


def dominates(a: Point, b: Point, directions: Mapping[str, str]) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and strictly better somewhere.

    Both points must have a value for every criterion in ``directions``.
    """
    return (all(at_least_as_good(a[c], b[c], d) for c, d in directions.items())
            and any(strictly_better(a[c], b[c], d) for c, d in directions.items()))


def pareto(points: Mapping[str, Point], directions: Mapping[str, str]) -> ParetoResult:
    """The Pareto-efficient set of ``points`` (name -> values) on ``directions`` (criterion -> higher|lower)."""
    for name, better in directions.items():
        if better not in DIRECTIONS:
            raise ValueError(f"criterion {name!r}: direction must be one of {DIRECTIONS}, got {better!r}")
    used = {c: d for c, d in directions.items()
            if any(not is_missing(p.get(c)) for p in points.values())}
    result = ParetoResult(criteria=list(used), unused=[c for c in directions if c not in used])
    complete: dict[str, Point] = {}
    for name, point in points.items():
        lacking = [c for c in used if is_missing(point.get(c))]
        if lacking:
            result.excluded[name] = lacking
        else:
            complete[name] = point
    if not used:
        # Nothing to compare on: every candidate lacks every criterion.
        return result
    result.efficient = [n for n, p in complete.items()
                        if not any(dominates(q, p, used) for m, q in complete.items() if m != n)]
    for name, point in complete.items():
        if name not in result.efficient:
            result.dominated_by[name] = next(e for e in result.efficient if dominates(complete[e], point, used))
    return result


def normalized_scores(points: Mapping[str, Point], criterion: str, better: str) -> dict[str, float]:
    """Min-max scores in [0, 1] with 1 = the best value among ``points`` (missing values skipped).

    When all values are equal every candidate scores 1: none is worse than another.
    """
    values = {n: float(p[criterion]) for n, p in points.items() if not is_missing(p.get(criterion))}
    if not values:
        return {}
    lo, hi = min(values.values()), max(values.values())
    if hi == lo:
        return {n: 1.0 for n in values}
    if better == HIGHER:
        return {n: (v - lo) / (hi - lo) for n, v in values.items()}
    return {n: (hi - v) / (hi - lo) for n, v in values.items()}


def ranked(names: Sequence[str], points: Mapping[str, Point], keys: Sequence[tuple[str, str]]) -> list[str]:
    """``names`` sorted best first on ``keys`` (criterion, direction), lexicographically; stable for ties."""
    def sort_key(name: str) -> tuple:
        return tuple(-points[name][c] if d == HIGHER else points[name][c] for c, d in keys)
    return sorted(names, key=sort_key)


# A value is "decent" when its min-max score is at least this: it lies outside the worst third
# of the range spanned by the candidates. With the report's own figures this reproduces its
# recommendation list (tests/test_pareto.py checks it).
DECENT = 1 / 3


@dataclass
class Recommendation:
    """One pick for a criterion pair (a, b): the best on a, the best on b, or the balanced one."""

    kind: str                  # "best_a" | "best_b" | "best_both" | "balanced"
    candidate: str
    a_decent: bool
    b_decent: bool
    tied_with: list[str] = field(default_factory=list)   # candidates with exactly the same a and b


def recommend_pair(points: Mapping[str, Point], a: str, a_better: str, b: str, b_better: str,
                   decent: float = DECENT) -> list[Recommendation]:
    """Picks for the pair (a, b) among the candidates that have both values.

    - best_a: the best value of a; among equal a, the best b (so it lies on the 2-D front);
      b is called decent when its score (see ``normalized_scores``) is at least ``decent``.
    - best_b: the same with the roles swapped; when it is the best_a candidate too, one
      ``best_both`` pick replaces both.
    - balanced: the 2-D Pareto-efficient candidate closest to the ideal point (score 1 on
      both), listed only when it is neither of the picks above.
    """
    both = {n: p for n, p in points.items() if not is_missing(p.get(a)) and not is_missing(p.get(b))}
    if not both:
        return []
    front = pareto(both, {a: a_better, b: b_better}).efficient
    score_a = normalized_scores(both, a, a_better)
    score_b = normalized_scores(both, b, b_better)

    def pick(kind: str, name: str) -> Recommendation:
        tied = [n for n in both if n != name and both[n][a] == both[name][a] and both[n][b] == both[name][b]]
        return Recommendation(kind, name, score_a[name] >= decent, score_b[name] >= decent, tied)

    best_a = ranked(front, both, [(a, a_better), (b, b_better)])[0]
    best_b = ranked(front, both, [(b, b_better), (a, a_better)])[0]
    if best_a == best_b:
        return [pick("best_both", best_a)]
    picks = [pick("best_a", best_a), pick("best_b", best_b)]
    # Knee of the front: the smallest distance to the ideal point; min() keeps input order on ties.
    balanced = min(front, key=lambda n: math.hypot(1 - score_a[n], 1 - score_b[n]))
    if balanced not in (best_a, best_b):
        picks.append(pick("balanced", balanced))
    return picks
