"""The database's state as a RADIUS process sees it: one line each way, the gauge, and only for
failures that say the database cannot be used."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from radius.dbstate import DatabaseState


def _up() -> float | None:
    return REGISTRY.get_sample_value("sesame_database_up")


def test_down_and_back_are_logged_once_each_and_shown_by_the_gauge(caplog: pytest.LogCaptureFixture) -> None:
    state = DatabaseState()
    state.answered(0.0)
    assert state.up and _up() == 1
    with caplog.at_level(logging.WARNING, "radius.dbstate"):
        for now in (2.0, 4.0, 6.0):
            state.failed(ConnectionRefusedError(111, "Connection refused"), now)
        assert not state.up and _up() == 0
        state.answered(14.0)
        state.answered(16.0)
    assert state.up and _up() == 1
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("radius: the database is unreachable (ConnectionRefusedError")
    assert messages[1] == "radius: the database answers again after 12 s"


def test_a_failure_of_ours_is_not_an_outage() -> None:
    state = DatabaseState()
    state.answered(0.0)
    state.failed(KeyError("a bug"), 2.0)
    assert state.up and _up() == 1
