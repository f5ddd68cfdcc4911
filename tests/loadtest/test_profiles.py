"""foodclf.loadtest.profiles: the course's challenge profile, profile files and their errors."""
import json

import pytest

from foodclf.errors import FoodclfError
from foodclf.loadtest.profiles import CHALLENGE_PROFILE, Stage, parse_duration, parse_profile, total_duration


def test_challenge_profile_is_the_courses():
    assert len(CHALLENGE_PROFILE) == 30
    assert total_duration(CHALLENGE_PROFILE) == 30 * 60
    pairs = [(s.delay_s, s.users) for s in CHALLENGE_PROFILE]
    assert pairs[:5] == [(100, 20)] * 5 and pairs[14] == (1, 20) and pairs[15:20] == [(1, 30)] * 5
    assert pairs[-7:] == [(80, 20)] * 7
    scaled = parse_profile("challenge", time_scale=0.1)
    assert total_duration(scaled) == pytest.approx(180) and scaled[15].users == 30


def test_profile_files_and_errors(tmp_path):
    js = tmp_path / "p.json"
    js.write_text(json.dumps([{"duration": "1m30s", "users": 3, "delay": 0.5}, ["10s", 2, 0]]))
    assert parse_profile(js) == [Stage(90.0, 3, 0.5), Stage(10.0, 2, 0.0)]
    cs = tmp_path / "p.csv"
    cs.write_text("duration,users,delay\n2m,4,1\n")
    assert parse_profile(cs) == [Stage(120.0, 4, 1.0)]
    assert parse_duration("30s") == 30 and parse_duration(45) == 45 and parse_duration("1h") == 3600
    with pytest.raises(FoodclfError, match="stage 1: users"):
        parse_profile([{"duration": 5, "users": 0, "delay": 1}])
    with pytest.raises(FoodclfError, match="duration"):
        parse_duration("soon")
    # a stage cannot last 0 s; an optional pause (a warm-up) can
    with pytest.raises(FoodclfError, match="more than 0 seconds"):
        parse_duration("0s")
    assert parse_duration("0s", allow_zero=True) == 0 and parse_duration("20s", allow_zero=True) == 20
    with pytest.raises(FoodclfError, match="not a known profile"):
        parse_profile(str(tmp_path / "missing.json"))
