"""The failures of periodic tasks: the first of a kind with its traceback, repeats summed up at
most once a minute, the recovery once (a bug must not look like a database outage, nor fill the log)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius.clients import ClientTable
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.periodic import FailureLog
from radius.server import RadiusService
from radius.sqlstore import SqlStore
from sesame.db import create_sessionmaker

LOGGER = "tests.periodic"


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_the_first_failure_of_a_kind_is_logged_with_its_traceback_and_repeats_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    failures = FailureLog("poll", logging.getLogger(LOGGER), summary_every=60.0)
    for i in range(100):  # every 0.1 s for 10 s
        failures.failed(ConnectionRefusedError("database away"), now=i / 10)
    failures.failed(KeyError("a bug of ours"), now=10.0)  # another kind: its own traceback
    lines = _lines(caplog)
    assert [(r.levelno, r.exc_info is not None) for r in lines] == [(logging.ERROR, True)] * 2
    assert lines[0].exc_info is not None and lines[0].exc_info[0] is ConnectionRefusedError
    assert lines[1].exc_info is not None and lines[1].exc_info[0] is KeyError
    assert failures.failing


def test_repeats_are_summed_up_at_most_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    failures = FailureLog("poll", logging.getLogger(LOGGER), summary_every=60.0)
    for i in range(1500):  # every 0.1 s for 150 s
        failures.failed(ConnectionRefusedError("database away"), now=i / 10)
    lines = _lines(caplog)
    # the traceback at 0 s, a summary at 60 s and at 120 s
    assert [r.exc_info is not None for r in lines] == [True, False, False]
    assert "600 more failures in the last 60 s" in lines[1].getMessage()
    assert "ConnectionRefusedError('database away')" in lines[1].getMessage()


def test_the_recovery_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    failures = FailureLog("poll", logging.getLogger(LOGGER), summary_every=60.0)
    for i in range(30):
        failures.failed(ConnectionRefusedError("database away"), now=i / 10)
    for i in range(30, 60):
        failures.succeeded(now=i / 10)
    lines = _lines(caplog)
    assert len(lines) == 2
    assert "works again after 30 failed runs in 3 s" in lines[1].getMessage()
    assert "29 more failures" in lines[1].getMessage()
    assert not failures.failing


def test_a_flapping_task_writes_a_line_a_period_at_most(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    failures = FailureLog("poll", logging.getLogger(LOGGER), summary_every=60.0)
    for i in range(1200):  # fails every other run, every 0.1 s, for 120 s
        if i % 2:
            failures.succeeded(now=i / 10)
        else:
            failures.failed(TimeoutError(), now=i / 10)
    lines = _lines(caplog)
    # the traceback and its recovery, then at 60 s the recovery with the count of the others
    assert len(lines) == 3
    assert "300 more failures in the last 60 s" in lines[2].getMessage()


def test_tracebacks_come_again_after_a_long_healthy_spell(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    failures = FailureLog("poll", logging.getLogger(LOGGER), summary_every=60.0, forget_after=3600.0)
    failures.failed(KeyError("k"), now=0.0)
    failures.succeeded(now=1.0)
    failures.failed(KeyError("k"), now=4000.0)
    assert [r.exc_info is not None for r in _lines(caplog)] == [True, False, True]


async def test_a_failing_periodic_task_of_the_radius_service_logs_one_traceback(
    engine: AsyncEngine, box: SecretBox, radius_codec: Codec, caplog: pytest.LogCaptureFixture
) -> None:
    """The record flush fails every 10 ms: one line, with the traceback, not one line a run."""
    caplog.set_level(logging.INFO, logger="sesame.radius")
    runs = 0
    enough = asyncio.Event()

    class Broken(SqlStore):
        async def flush_records(self) -> int:
            nonlocal runs
            runs += 1
            if runs >= 20:
                enough.set()
            raise LookupError("a bug of ours")

    store = Broken(sessions=create_sessionmaker(engine), box=box, realm="r.example", region_name="R",
                   defaults=Policy())  # fmt: skip
    cores = {kind: ServerCore(kind=kind, clients=ClientTable(), codec_=radius_codec) for kind in PortKind}
    service = RadiusService(
        auth=cores[PortKind.AUTH], acct=cores[PortKind.ACCT], handlers={}, store=store, flush_interval=0.01
    )
    await service.start([])
    try:
        await asyncio.wait_for(enough.wait(), timeout=30)
    finally:
        await service.stop()
    about_flush = [r for r in caplog.records if r.name == "sesame.radius" and "flush" in r.getMessage()]
    assert len(about_flush) == 1
    assert about_flush[0].exc_info is not None and about_flush[0].exc_info[0] is LookupError
