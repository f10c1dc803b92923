"""The progress watchdog: stalled only when input waits and nothing is processed for the timeout."""

from __future__ import annotations

import pytest

from workers.stream.progress import ProgressWatchdog, pending_messages


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pending_counts_highwater_minus_committed() -> None:
    highwaters = {"a": 10, "b": 5, "c": None, "d": 7}
    committed = {"a": 4, "b": 5, "c": 3}  # d never committed
    assert pending_messages(highwaters, committed) == 6 + 0 + 0 + 7


def test_committed_past_highwater_counts_zero() -> None:
    assert pending_messages({"a": 3}, {"a": 9}) == 0


def test_stalls_only_after_the_timeout_with_input_waiting() -> None:
    clock = Clock()
    dog = ProgressWatchdog(60.0, clock=clock)
    assert dog.check(pending=5) is False
    clock.now += 59.0
    assert dog.check(pending=5) is False and not dog.stalled
    clock.now += 1.0
    assert dog.check(pending=5) is True and dog.stalled
    assert dog.stalled_seconds() == pytest.approx(60.0)
    clock.now += 5.0
    assert dog.check(pending=5) is False and dog.stalled  # reported once, still stalled


def test_progress_or_no_input_is_not_a_stall() -> None:
    clock = Clock()
    dog = ProgressWatchdog(10.0, clock=clock)
    for _ in range(10):
        clock.now += 5.0
        dog.processed()
        assert dog.check(pending=100) is False
    for _ in range(10):
        clock.now += 5.0
        assert dog.check(pending=0) is False
    assert not dog.stalled


def test_progress_ends_a_stall_and_reset_forgets_the_idle_time() -> None:
    clock = Clock()
    dog = ProgressWatchdog(10.0, clock=clock)
    dog.check(pending=1)
    clock.now += 10.0
    assert dog.check(pending=1) and dog.stalled
    dog.processed(3)
    assert dog.check(pending=1) is False and not dog.stalled
    clock.now += 9.0
    dog.reset()
    clock.now += 9.0
    assert dog.check(pending=1) is False and not dog.stalled


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="stall_timeout"):
        ProgressWatchdog(0)


def test_busy_agents_are_reported_until_processed() -> None:
    clock = Clock()
    dog = ProgressWatchdog(10.0, clock=clock)
    dog.begin("tag")
    dog.begin("clean")
    clock.now += 2.5
    dog.processed(agent="clean")
    assert dog.busy_seconds() == {"tag": 2.5}
    dog.processed(32, agent="tag")
    assert dog.busy_seconds() == {} and dog.events == 33


def test_heals_once_when_idle_with_input_waiting() -> None:
    clock = Clock()
    dog = ProgressWatchdog(120.0, clock=clock)
    assert dog.heal_after == 30.0
    dog.check(pending=512)
    clock.now += 29.0
    dog.check(pending=512)
    assert dog.should_heal() is False
    clock.now += 1.0
    dog.check(pending=512)
    assert dog.should_heal() is True
    assert dog.should_heal() is False  # once per idle period
    clock.now += 5.0
    dog.processed(32)  # it helped
    dog.check(pending=480)
    dog.check(pending=480)  # idle again from here
    clock.now += 30.0
    dog.check(pending=480)
    assert dog.should_heal() is True  # a new idle period may heal again


def test_no_heal_while_an_agent_is_busy_or_without_waiting_input() -> None:
    clock = Clock()
    dog = ProgressWatchdog(8.0, heal_after=2.0, clock=clock)
    dog.begin("tag")  # a batch in flight: re-reading would only duplicate it
    dog.check(pending=10)
    clock.now += 5.0
    dog.check(pending=10)
    assert dog.should_heal() is False
    dog.processed(agent="tag")
    clock.now += 5.0
    dog.check(pending=0)
    assert dog.should_heal() is False


def test_time_with_the_broker_away_is_not_idle_time() -> None:
    clock = Clock()
    dog = ProgressWatchdog(60.0, clock=clock)
    dog.check(pending=5)
    clock.now += 50.0
    dog.broker_away(pending=7)  # the outage begins after 50 s of idleness
    for _ in range(100):
        clock.now += 5.0
        dog.broker_away(pending=7)
    assert not dog.stalled and dog.pending == 7 and dog.should_heal() is False
    clock.now += 5.0
    assert dog.check(pending=7) is False  # back: the idle clock starts now
    clock.now += 59.0
    assert dog.check(pending=7) is False
    clock.now += 1.0
    assert dog.check(pending=7) is True
