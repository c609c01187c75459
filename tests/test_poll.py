"""The one poll helper (pgtune.base.poll), on a fake clock: no test here sleeps."""

from __future__ import annotations

import pytest

from pgtune.base import poll as poll_module
from pgtune.base.poll import PollTimeout, poll


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(poll_module.time, "monotonic", c.monotonic)
    monkeypatch.setattr(poll_module.time, "sleep", c.sleep)
    return c


def test_first_truthy_answer_is_returned_without_waiting(clock: Clock) -> None:
    assert poll(lambda: "ready", 5) == "ready"
    assert clock.sleeps == []


def test_waits_until_the_condition_holds(clock: Clock) -> None:
    answers = iter([None, 0, "", "done"])
    assert poll(lambda: next(answers), 5, interval=0.5) == "done"
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_times_out_after_asking_once_more_at_the_deadline(clock: Clock) -> None:
    asked: list[float] = []

    def never() -> bool:
        asked.append(clock.now)
        return False

    with pytest.raises(PollTimeout) as caught:
        poll(never, 1.0, interval=0.4)
    assert asked == pytest.approx([100.0, 100.4, 100.8, 101.0])  # the last sleep is cut to the deadline
    assert caught.value.last is None
    assert "timed out after 1s" in str(caught.value)


def test_growing_interval_is_capped(clock: Clock) -> None:
    with pytest.raises(PollTimeout):
        poll(lambda: False, 60, interval=1, growth=2, cap=8)
    assert clock.sleeps[:6] == [1, 2, 4, 8, 8, 8]
    assert sum(clock.sleeps) == pytest.approx(60)


def test_tolerated_errors_are_not_yet_and_the_last_is_kept(clock: Clock) -> None:
    calls = iter([ConnectionError("refused"), ConnectionError("reset"), None])

    def answer() -> bool:
        step = next(calls, None)
        if isinstance(step, Exception):
            raise step
        return False

    with pytest.raises(PollTimeout) as caught:
        poll(answer, 0.5, interval=0.25, tolerate=(ConnectionError,))
    assert str(caught.value.last) == "reset"


def test_other_errors_are_raised_at_once(clock: Clock) -> None:
    def broken() -> bool:
        raise ValueError("a bug, not a state")

    with pytest.raises(ValueError, match="a bug"):
        poll(broken, 10, tolerate=(ConnectionError,))
    assert clock.sleeps == []
