"""The candidates' Pareto sets and "best X and decent Y" recommendations, per scope.

The rules are those of foodclf.report.pareto (docs/compare.md); this module applies them to
each scope's candidates and words the recommendations.
"""
from __future__ import annotations

from collections.abc import Sequence

from foodclf.report.candidates import SCOPES, Candidate
from foodclf.report.criteria import Criteria, Criterion
from foodclf.report.pareto import ParetoResult, Recommendation, pareto, recommend_pair

SETS = {"optimizing": ("optimizing",), "operational": ("operational",), "both": ("optimizing", "operational")}
SCOPE_KINDS = {"models": "model", "deployments": "deployment"}   # the criterion sources each scope reads


def pareto_sets(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, dict[str, ParetoResult]]:
    """``{scope: {set: result}}`` for the scopes that have candidates; sets are optimizing, operational, both."""
    results = {}
    for scope in SCOPES:
        points = {c.name: c.values for c in candidates if c.scope == scope}
        if points:
            kind = SCOPE_KINDS[scope]
            results[scope] = {name: pareto(points, criteria.pareto_set(groups, kind)) for name, groups in SETS.items()}
    return results


def recommendations(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, list[str]]:
    """``{scope: ["Best accuracy and decent memory: mobilenet_v2 + deployment_hpa", ...]}``."""
    out = {}
    for scope in SCOPES:
        points = {c.name: c.values for c in candidates if c.scope == scope}
        lines = []
        for a_name, b_name in criteria.pairs:
            a, b = criteria[a_name], criteria[b_name]
            for pick in recommend_pair(points, a.name, a.better, b.name, b.better):
                lines.append(recommendation_text(pick, a, b))
        if lines:
            out[scope] = lines
    return out


def recommendation_text(pick: Recommendation, a: Criterion, b: Criterion) -> str:
    pa, pb = _phrase(a), _phrase(b)
    if pick.kind == "best_a":
        what = f"best {pa} and decent {pb}" if pick.b_decent else f"best {pa}"
    elif pick.kind == "best_b":
        what = f"best {pb} and decent {pa}" if pick.a_decent else f"best {pb}"
    elif pick.kind == "best_both":
        what = f"best {pa} and best {pb}"
    else:
        what = f"decent {pa} and decent {pb}" if pick.a_decent and pick.b_decent else f"balanced {pa} and {pb}"
    tied = f" (tied with {', '.join(pick.tied_with)})" if pick.tied_with else ""
    return f"{what[0].upper()}{what[1:]}: {pick.candidate}{tied}"


def _phrase(criterion: Criterion) -> str:
    """The label inside a sentence: 'memory', but 'CPU' stays 'CPU'."""
    label = criterion.label
    return label if label[:2].isupper() else label[0].lower() + label[1:]
