"""EvalOptions: the options of an evaluation, refused with a message naming the option."""
import pytest

from foodclf.errors import FoodclfError
from foodclf.evaluation.options import EvalOptions


@pytest.mark.parametrize("options, message", [
    ({"split": "test"}, "split must be one of training, validation, evaluation"),
    ({"batch_size": 0}, "batch size must be at least 1"),
    ({"latency_runs": 0}, "latency runs must be at least 1"),
    ({"throughput_runs": -1}, "throughput runs must be at least 1"),
    ({"bad_threshold": 80}, "between 0 and 1"),
    ({"threads": 0}, "threads must be at least 1"),
    ({"workers": -1}, "workers must be 0"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(FoodclfError, match=message):
        EvalOptions(**options)


def test_the_defaults_are_the_reports():
    options = EvalOptions()
    assert (options.split, options.bad_threshold, options.batch_size) == ("evaluation", 0.8, 32)
