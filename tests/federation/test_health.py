"""Home-server health: the transition table and the guards around it."""

from __future__ import annotations

from federation.health import TRANSITIONS, Event, Health, State, Timers

TIMERS = Timers(response_window=10, zombie_period=40, check_interval=10, answers_to_alive=3)


def test_the_table_covers_every_state_and_event_it_can_meet() -> None:
    reachable = {
        Event.ANSWER,
        Event.TIMEOUT,
        Event.PROBE_ANSWER,
        Event.REVIVE,
        Event.PROBE_TIMEOUT,
        Event.CONNECTION_LOST,
        Event.CONNECTED,
    }
    for state in State:
        for event in reachable:
            assert (state, event) in TRANSITIONS, (state, event)
    assert (State.ZOMBIE, Event.ZOMBIE_EXPIRED) in TRANSITIONS


def test_only_probes_revive_the_dead_and_no_state_is_a_dead_end() -> None:
    assert TRANSITIONS[(State.DEAD, Event.ANSWER)] is State.DEAD
    assert TRANSITIONS[(State.DEAD, Event.REVIVE)] is State.ALIVE
    targets = set(TRANSITIONS.values())
    assert targets == {State.UNKNOWN, State.ALIVE, State.ZOMBIE, State.DEAD}


def test_a_timeout_makes_a_zombie_that_an_answer_brings_back() -> None:
    health = Health(TIMERS, now=0)
    assert health.on(Event.ANSWER, 1).new is State.ALIVE  # type: ignore[union-attr]
    change = health.on(Event.TIMEOUT, 20)
    assert change is not None and (change.old, change.new) == (State.ALIVE, State.ZOMBIE)
    assert not health.usable and health.probe_due(20)
    health.probe_sent(20)
    assert not health.probe_due(29) and health.probe_due(30)
    assert health.on(Event.ANSWER, 25).new is State.ALIVE  # type: ignore[union-attr]
    assert health.usable and not health.probe_due(1000)


def test_a_zombie_silent_for_the_zombie_period_dies_then_needs_three_answers() -> None:
    health = Health(TIMERS, now=0)
    health.on(Event.TIMEOUT, 0)
    assert health.check_zombie(39) is None
    change = health.check_zombie(40)
    assert change is not None and change.new is State.DEAD
    assert health.on(Event.PROBE_ANSWER, 50) is None
    health.on(Event.PROBE_TIMEOUT, 60)  # a failure in between starts the count again
    assert health.on(Event.PROBE_ANSWER, 70) is None
    assert health.on(Event.PROBE_ANSWER, 80) is None
    change = health.on(Event.PROBE_ANSWER, 90)
    assert change is not None and (change.event, change.new) == (Event.REVIVE, State.ALIVE)


def test_a_lost_radsec_connection_is_dead_at_once_and_reconnecting_makes_a_zombie() -> None:
    health = Health(TIMERS, state=State.ALIVE, now=0)
    assert health.on(Event.CONNECTION_LOST, 5).new is State.DEAD  # type: ignore[union-attr]
    assert health.on(Event.CONNECTED, 9).new is State.ZOMBIE  # type: ignore[union-attr]
    assert health.on(Event.PROBE_ANSWER, 10).new is State.ALIVE  # type: ignore[union-attr]
