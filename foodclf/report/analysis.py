"""The candidates' Pareto sets and "best X and decent Y" recommendations, per scope.

The rules are those of foodclf.report.pareto (docs/compare.md); this module applies them to
each scope's candidates and words the recommendations: a line for comparison.json ("Best
accuracy and decent transaction rate: vgg16 + deployment_hpa+") and, for the report, the
numbers that decided each pick.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from foodclf.report.candidates import SCOPES, Candidate
from foodclf.report.criteria import Criteria, Criterion
from foodclf.report.pareto import HIGHER, ParetoResult, Recommendation, is_missing, pareto, recommend_pair

SETS = {"optimizing": ("optimizing",), "operational": ("operational",), "both": ("optimizing", "operational")}
SCOPE_KINDS = {"models": "model", "deployments": "deployment"}   # the criterion sources each scope reads


@dataclass
class Pick:
    """One recommendation: the pick for a criterion pair (a, b) among one scope's candidates."""

    scope: str
    a: Criterion
    b: Criterion
    recommendation: Recommendation

    @property
    def candidate(self) -> str:
        return self.recommendation.candidate

    @property
    def reason(self) -> str:
        """'Best accuracy and decent transaction rate'."""
        return pick_reason(self.recommendation, self.a, self.b)

    @property
    def line(self) -> str:
        """The comparison.json line: 'Best accuracy and decent transaction rate: vgg16 + deployment_hpa+'."""
        tied = self.recommendation.tied_with
        return f"{self.reason}: {self.candidate}" + (f" (tied with {', '.join(tied)})" if tied else "")


def pareto_sets(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, dict[str, ParetoResult]]:
    """``{scope: {set: result}}`` for the scopes that have candidates; sets are optimizing, operational, both."""
    results = {}
    for scope in SCOPES:
        points = {c.name: c.values for c in candidates if c.scope == scope}
        if points:
            kind = SCOPE_KINDS[scope]
            results[scope] = {name: pareto(points, criteria.pareto_set(groups, kind)) for name, groups in SETS.items()}
    return results


def picks(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, list[Pick]]:
    """``{scope: [Pick]}``: each criterion pair's picks, for the scopes that have any."""
    out = {}
    for scope in SCOPES:
        points = {c.name: c.values for c in candidates if c.scope == scope}
        found = []
        for a_name, b_name in criteria.pairs:
            a, b = criteria[a_name], criteria[b_name]
            found += [Pick(scope, a, b, r) for r in recommend_pair(points, a.name, a.better, b.name, b.better)]
        if found:
            out[scope] = found
    return out


def recommendations(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, list[str]]:
    """``{scope: ["Best accuracy and decent memory: mobilenet_v2 + deployment_hpa", ...]}``."""
    return {scope: [p.line for p in found] for scope, found in picks(candidates, criteria).items()}


def pick_reason(pick: Recommendation, a: Criterion, b: Criterion) -> str:
    pa, pb = _phrase(a), _phrase(b)
    if pick.kind == "best_a":
        what = f"best {pa} and decent {pb}" if pick.b_decent else f"best {pa}"
    elif pick.kind == "best_b":
        what = f"best {pb} and decent {pa}" if pick.a_decent else f"best {pb}"
    elif pick.kind == "best_both":
        what = f"best {pa} and best {pb}"
    else:
        what = f"decent {pa} and decent {pb}" if pick.a_decent and pick.b_decent else f"balanced {pa} and {pb}"
    return f"{what[0].upper()}{what[1:]}"


def evidence(pick: Pick, candidates: Sequence[Candidate]) -> str:
    """The numbers that decided a pick, in the order its reason names them, each one that is not
    the scope's best beside that best: 'accuracy 0.8491, transaction rate 14.15/s (best 14.22/s)'."""
    values = {c.name: c.values for c in candidates if c.scope == pick.scope}
    both = [v for v in values.values()
            if not is_missing(v.get(pick.a.name)) and not is_missing(v.get(pick.b.name))]
    order = (pick.b, pick.a) if pick.recommendation.kind == "best_b" else (pick.a, pick.b)
    parts = []
    for criterion in order:
        column = [v[criterion.name] for v in both]
        best = max(column) if criterion.better == HIGHER else min(column)
        mine = values[pick.candidate][criterion.name]
        shown = f"{_phrase(criterion)} {with_unit(criterion, mine)}"
        parts.append(shown if mine == best else f"{shown} (best {with_unit(criterion, best)})")
    return ", ".join(parts)


def with_unit(criterion: Criterion, value: float) -> str:
    """'14.15/s', '0.370 s', '973 MB', '0.8491'."""
    shown = criterion.show(value)
    if not criterion.unit:
        return shown
    return shown + criterion.unit if criterion.unit.startswith("/") else f"{shown} {criterion.unit}"


def _phrase(criterion: Criterion) -> str:
    """The label inside a sentence: 'memory', but 'CPU' stays 'CPU'."""
    label = criterion.label
    return label if label[:2].isupper() else label[0].lower() + label[1:]
