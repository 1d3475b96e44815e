"""Retention periods are checked when the app starts (config.retention_problems)."""
import pytest

import config


def settings(**overrides):
    return type("Settings", (config.Config,), overrides)


def test_defaults_are_accepted():
    assert config.retention_problems(config.Config) == []
    assert config.retention_problems(settings(RETENTION_STALE_DAYS=0)) == []  # a rule may be off


@pytest.mark.parametrize(("name", "value"), [
    ("RETENTION_DECLINED_DAYS", -1), ("RETENTION_WITHDRAWN_DAYS", -5), ("RETENTION_STALE_DAYS", -1),
    ("RETENTION_GRACE_DAYS", 0), ("RETENTION_BATCH", 0),
])
def test_a_bad_period_stops_the_start(name, value):
    problems = config.retention_problems(settings(**{name: value}))
    assert len(problems) == 1 and name in problems[0]
    assert problems == settings(**{name: value}).problems()
