from __future__ import annotations

from activeresponse.config import Config
from activeresponse.operations import escalated_timeout


def cfg(**values: object) -> Config:
    return Config(values)


def test_no_escalation_by_default() -> None:
    c = cfg()
    assert [escalated_timeout(c, 600, n) for n in (1, 2, 5)] == [600, 600, 600]


def test_multipliers_last_repeats_and_cap() -> None:
    c = cfg(repeat_multipliers=[1, 4, 16], repeat_max_timeout=20000)
    assert [escalated_timeout(c, 600, n) for n in (1, 2, 3, 4)] == [600, 2400, 9600, 9600]
    assert (
        escalated_timeout(cfg(repeat_multipliers=[1, 100], repeat_max_timeout=3600), 600, 2) == 3600
    )


def test_cap_never_shortens_below_base_and_agent_minimum_wins() -> None:
    c = cfg(repeat_multipliers=[1, 2], repeat_max_timeout=100)
    assert escalated_timeout(c, 600, 2) == 600
    # The agent's <repeated_offenders> 30,60 minutes: 2nd block 1800 s, 3rd+ 3600 s.
    assert escalated_timeout(cfg(), 600, 2, [1800, 3600]) == 1800
    assert escalated_timeout(cfg(), 600, 7, [1800, 3600]) == 3600
    assert escalated_timeout(cfg(), 600, 1, [1800, 3600]) == 600
