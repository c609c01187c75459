"""One way to wait for a state: poll a condition until it holds or a deadline passes.

Never a fixed sleep: the condition is asked at once, then after each interval (growing by
`growth` up to `cap` for states that change in minutes, such as an RDS reboot), and once more at
the deadline. Errors the caller names in `tolerate` count as "not yet" (a member restarting does
not answer for a moment); the last one is kept for the message the caller raises."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PollTimeout(Exception):
    """The deadline passed first; `last` is the last tolerated error (None: the condition just did not hold)."""

    def __init__(self, timeout: float, last: BaseException | None) -> None:
        super().__init__(f"timed out after {timeout:g}s" + (f" (last: {last})" if last else ""))
        self.timeout = timeout
        self.last = last


def poll(
    condition: Callable[[], T],
    timeout: float,
    *,
    interval: float = 0.25,
    growth: float = 1.0,
    cap: float = 15.0,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """The condition's first truthy answer; PollTimeout when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            answer = condition()
            if answer:
                return answer
        except tolerate as exc:
            last = exc
        left = deadline - time.monotonic()
        if left <= 0:
            raise PollTimeout(timeout, last)
        time.sleep(min(interval, left))
        interval = min(interval * growth, cap)


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    error: Callable[[str], Exception],
    *,
    interval: float = 0.2,
    growth: float = 1.5,
    cap: float = 15.0,
) -> None:
    """Poll a service's state with a growing interval (it changes in seconds to minutes); when the
    deadline passes first, the service's own error says what was waited for."""
    try:
        poll(condition, timeout, interval=interval, growth=growth, cap=cap)
    except PollTimeout:
        raise error(f"timed out after {timeout:g}s waiting for {what}") from None
