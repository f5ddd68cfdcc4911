"""The Pareto logic on hand-made candidates, and the report's own figures."""
import math
import random

import pytest

from foodclf.report.pareto import dominates, normalized_scores, pareto, recommend_pair

ACC_MEM = {"acc": "higher", "mem": "lower"}


def test_dominance_needs_one_strict_improvement():
    assert dominates({"acc": 0.9, "mem": 100}, {"acc": 0.8, "mem": 200}, ACC_MEM)
    assert dominates({"acc": 0.9, "mem": 100}, {"acc": 0.9, "mem": 200}, ACC_MEM)   # tie on accuracy
    assert not dominates({"acc": 0.9, "mem": 100}, {"acc": 0.9, "mem": 100}, ACC_MEM)  # equal points
    assert not dominates({"acc": 0.9, "mem": 300}, {"acc": 0.8, "mem": 200}, ACC_MEM)  # a trade-off


def test_ties_on_one_criterion_are_decided_by_the_other():
    result = pareto({"a": {"acc": 0.8, "mem": 100}, "b": {"acc": 0.8, "mem": 200}, "c": {"acc": 0.7, "mem": 50}},
                    ACC_MEM)
    assert result.efficient == ["a", "c"]
    assert result.dominated_by == {"b": "a"}


def test_equal_points_are_both_efficient():
    result = pareto({"a": {"acc": 0.8, "mem": 100}, "b": {"acc": 0.8, "mem": 100}}, ACC_MEM)
    assert result.efficient == ["a", "b"]
    assert result.dominated_by == {}


def test_a_single_candidate_is_efficient():
    result = pareto({"only": {"acc": 0.5, "mem": 1}}, ACC_MEM)
    assert result.efficient == ["only"] and result.status("only") == "efficient"


def test_a_candidate_lacking_a_value_is_excluded_and_says_what_it_lacks():
    points = {"a": {"acc": 0.9, "mem": None}, "b": {"acc": 0.8, "mem": 100}, "c": {"acc": 0.7, "mem": 200}}
    result = pareto(points, ACC_MEM)
    assert result.excluded == {"a": ["mem"]}
    assert result.efficient == ["b"] and result.dominated_by == {"c": "b"}
    assert result.status("a") == "not compared (lacks mem)"


def test_a_criterion_nobody_has_is_unused_not_excluding():
    points = {"a": {"acc": 0.9, "p95": float("nan")}, "b": {"acc": 0.8}}
    result = pareto(points, {"acc": "higher", "p95": "lower"})
    assert result.criteria == ["acc"] and result.unused == ["p95"]
    assert result.efficient == ["a"] and result.dominated_by == {"b": "a"}


def test_the_named_dominator_is_efficient_and_dominates():
    rng = random.Random(0)
    directions = {"x": "higher", "y": "lower", "z": "lower"}
    points = {f"c{i}": {k: rng.choice([1, 2, 3, 4]) for k in directions} for i in range(40)}
    result = pareto(points, directions)
    assert set(result.efficient) | set(result.dominated_by) == set(points)
    for name, by in result.dominated_by.items():
        assert by in result.efficient and dominates(points[by], points[name], directions)
    for name in result.efficient:
        assert not any(dominates(p, points[name], directions) for p in points.values())


def test_bad_direction_is_rejected():
    with pytest.raises(ValueError, match="direction"):
        pareto({"a": {"x": 1}}, {"x": "bigger"})


def test_normalized_scores_put_the_best_at_one():
    scores = normalized_scores({"a": {"m": 10}, "b": {"m": 20}, "c": {"m": 30}}, "m", "lower")
    assert scores == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert normalized_scores({"a": {"m": 5}, "b": {"m": 5}}, "m", "lower") == {"a": 1.0, "b": 1.0}


# The report's deployment tables: accuracy, memory (KB), response time (s), transaction rate.
REPORT = {
    "previous + hpa": (0.7622, 5041017, 0.37, 13.28), "vgg16 + hpa": (0.8491, 6425222, 0.46, 13.82),
    "mobilenet + hpa": (0.8312, 4841846, 0.48, 12.87), "previous + hpa+": (0.7622, 7994066, 0.42, 14.14),
    "vgg16 + hpa+": (0.8491, 7210982, 0.43, 14.15), "mobilenet + hpa+": (0.8312, 6284285, 0.42, 14.22),
}
REPORT_POINTS = {n: dict(zip(("acc", "mem", "rt", "tr"), v)) for n, v in REPORT.items()}


def picks(b, b_better):
    return [(p.kind, p.candidate, p.a_decent, p.b_decent)
            for p in recommend_pair(REPORT_POINTS, "acc", "higher", b, b_better)]


def test_recommendations_reproduce_the_report():
    # "Best Accuracy and Decent Memory Use: Model 1 + hpa", "Best Memory Use and Decent Accuracy: Model 2 + hpa"
    assert picks("mem", "lower") == [("best_a", "vgg16 + hpa", True, True), ("best_b", "mobilenet + hpa", True, True)]
    # "... Decent Transaction Rate: Model 1 + hpa+", "Best Transaction Rate and Decent Accuracy: Model 2 + hpa+"
    assert picks("tr", "higher") == [("best_a", "vgg16 + hpa+", True, True),
                                     ("best_b", "mobilenet + hpa+", True, True)]
    # "Best Response Time: Previous + hpa" (accuracy not decent), "Decent RT and Decent Accuracy: Model 2 + hpa+"
    assert picks("rt", "lower") == [("best_a", "vgg16 + hpa+", True, True), ("best_b", "previous + hpa", False, True),
                                    ("balanced", "mobilenet + hpa+", True, True)]


def test_recommendation_for_one_candidate_and_for_exact_ties():
    one = recommend_pair({"a": {"x": 1, "y": 2}}, "x", "higher", "y", "lower")
    assert [(p.kind, p.candidate) for p in one] == [("best_both", "a")]
    tied = recommend_pair({"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 2}, "c": {"x": 0, "y": math.nan}},
                          "x", "higher", "y", "lower")
    assert [(p.kind, p.candidate, p.tied_with) for p in tied] == [("best_both", "a", ["b"])]
    assert recommend_pair({"a": {"x": None, "y": 1}}, "x", "higher", "y", "lower") == []
