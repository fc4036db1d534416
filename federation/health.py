"""Home-server health, as FreeRADIUS (``proxy.conf``) and radsecproxy track it. No I/O, no clock.

Theory of operation. A home server is ``alive`` until a request sent to it goes unanswered
for ``response_window`` seconds: then it is a ``zombie`` — not trusted with new requests while
another server of the pool is alive — and Status-Server probes (RFC 5997) start, one every
``check_interval``. Any valid answer (a reply or a probe's) brings a zombie back to ``alive``.
A zombie that stays silent for ``zombie_period`` is ``dead``: it gets no requests at all, only
probes, and is revived after ``answers_to_alive`` consecutive probe answers (one answer could be
a fluke of a flapping link). A RadSec server whose connection is down is dead at once; the
connection coming back makes it a zombie, which the next answer revives.

The transitions are a table (:data:`TRANSITIONS`): (state, event) → state. Guards that need
counts or times (the zombie period, the answers needed to revive) are applied by
:class:`Health` before it looks the table up, turning the event into a more specific one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.StrEnum):
    UNKNOWN = "unknown"  # never used yet: treated as alive
    ALIVE = "alive"
    ZOMBIE = "zombie"
    DEAD = "dead"


class Event(enum.StrEnum):
    ANSWER = "answer"  # a valid reply to a proxied request
    TIMEOUT = "timeout"  # a proxied request got no answer within the response window
    PROBE_ANSWER = "probe_answer"  # a Status-Server was answered, not yet enough to revive
    REVIVE = "revive"  # enough consecutive probe answers
    PROBE_TIMEOUT = "probe_timeout"
    ZOMBIE_EXPIRED = "zombie_expired"  # silent for the whole zombie period
    CONNECTION_LOST = "connection_lost"  # RadSec
    CONNECTED = "connected"  # RadSec


S, E = State, Event
TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.UNKNOWN, E.ANSWER): S.ALIVE,
    (S.UNKNOWN, E.PROBE_ANSWER): S.ALIVE,
    (S.UNKNOWN, E.REVIVE): S.ALIVE,
    (S.UNKNOWN, E.TIMEOUT): S.ZOMBIE,
    (S.UNKNOWN, E.PROBE_TIMEOUT): S.ZOMBIE,
    (S.UNKNOWN, E.CONNECTION_LOST): S.DEAD,
    (S.UNKNOWN, E.CONNECTED): S.UNKNOWN,
    (S.ALIVE, E.ANSWER): S.ALIVE,
    (S.ALIVE, E.PROBE_ANSWER): S.ALIVE,
    (S.ALIVE, E.REVIVE): S.ALIVE,
    (S.ALIVE, E.TIMEOUT): S.ZOMBIE,
    (S.ALIVE, E.PROBE_TIMEOUT): S.ZOMBIE,
    (S.ALIVE, E.CONNECTION_LOST): S.DEAD,
    (S.ALIVE, E.CONNECTED): S.ALIVE,
    (S.ZOMBIE, E.ANSWER): S.ALIVE,
    (S.ZOMBIE, E.PROBE_ANSWER): S.ALIVE,
    (S.ZOMBIE, E.REVIVE): S.ALIVE,
    (S.ZOMBIE, E.TIMEOUT): S.ZOMBIE,
    (S.ZOMBIE, E.PROBE_TIMEOUT): S.ZOMBIE,
    (S.ZOMBIE, E.ZOMBIE_EXPIRED): S.DEAD,
    (S.ZOMBIE, E.CONNECTION_LOST): S.DEAD,
    (S.ZOMBIE, E.CONNECTED): S.ZOMBIE,
    (S.DEAD, E.ANSWER): S.DEAD,  # a late answer alone does not revive: probes must
    (S.DEAD, E.PROBE_ANSWER): S.DEAD,
    (S.DEAD, E.REVIVE): S.ALIVE,
    (S.DEAD, E.TIMEOUT): S.DEAD,
    (S.DEAD, E.PROBE_TIMEOUT): S.DEAD,
    (S.DEAD, E.CONNECTION_LOST): S.DEAD,
    (S.DEAD, E.CONNECTED): S.ZOMBIE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Timers:
    """Seconds; FreeRADIUS's defaults are 20 / 40 / 30 and 3 answers, radsecproxy retries after 5."""

    response_window: float = 10.0
    zombie_period: float = 40.0
    check_interval: float = 10.0
    answers_to_alive: int = 3
    retry_interval: float = 2.0  # UDP: resend a request not yet answered (RFC 5080 §2.2.1 backs off)
    retries: int = 2  # resends to one server before it counts as a timeout and the next is tried


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """Fired when a home server changes state."""

    old: State
    new: State
    event: Event
    at: float


class Health:
    """One home server's health; ``on(event, now)`` returns the transition, if any."""

    __slots__ = ("answers", "next_probe", "since", "state", "timers", "zombie_since")

    def __init__(self, timers: Timers, *, state: State = State.UNKNOWN, now: float = 0.0) -> None:
        self.timers = timers
        self.state = state
        self.since = now
        self.zombie_since: float | None = None
        self.answers = 0  # consecutive probe answers while dead
        self.next_probe: float | None = None

    @property
    def usable(self) -> bool:
        """Trusted with new requests (a zombie only when nothing better is left)."""
        return self.state in (State.ALIVE, State.UNKNOWN)

    def _specific(self, event: Event, now: float) -> Event:
        if event is Event.PROBE_ANSWER and self.state is State.DEAD:
            self.answers += 1
            if self.answers >= self.timers.answers_to_alive:
                return Event.REVIVE
        elif event is Event.PROBE_ANSWER and self.state is not State.DEAD:
            return Event.REVIVE
        elif event in (Event.TIMEOUT, Event.PROBE_TIMEOUT):
            self.answers = 0
            if (
                self.state is State.ZOMBIE
                and self.zombie_since is not None
                and now - self.zombie_since >= self.timers.zombie_period
            ):
                return Event.ZOMBIE_EXPIRED
        return event

    def on(self, event: Event, now: float) -> Transition | None:
        specific = self._specific(event, now)
        new = TRANSITIONS[(self.state, specific)]
        if new is self.state:
            return None
        old, self.state, self.since = self.state, new, now
        if new is State.ZOMBIE:
            self.zombie_since = now
            self.next_probe = now  # probe at once
        elif new is State.DEAD:
            self.answers = 0
            self.next_probe = now + self.timers.check_interval
        else:
            self.zombie_since = self.next_probe = None
            self.answers = 0
        return Transition(old=old, new=new, event=specific, at=now)

    def probe_due(self, now: float) -> bool:
        return self.next_probe is not None and now >= self.next_probe

    def probe_sent(self, now: float) -> None:
        self.next_probe = now + self.timers.check_interval

    def check_zombie(self, now: float) -> Transition | None:
        """The zombie period may end between events (no traffic): look at the clock's reading."""
        expired = self.zombie_since is not None and now - self.zombie_since >= self.timers.zombie_period
        if self.state is State.ZOMBIE and expired:
            return self.on(Event.PROBE_TIMEOUT, now)
        return None
