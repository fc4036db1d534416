"""What the hand-off integration tests share (test_handoff.py, test_handoff_chilli.py): a UAM
secret, a challenge and tokens of three lengths, CoovaChilli configured with that secret, and the
HandoffError a call raises."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from portal.handoff import HandoffConfig, HandoffError

SECRET = b"s3cr3t-uam"
CHALLENGE = "5f2a9c0d7e1b3a4c6d8e0f1a2b3c4d5e"
TOKEN_6, TOKEN_16, TOKEN_24 = "abc123", "ABCDEFGHIJKLMNOP", "Zq3-xY_9aB7cD1eF2gH4iJ5k"
CHILLI = HandoffConfig(integration="coovachilli", secret=SECRET)


T = TypeVar("T")


def attempt(call: Callable[[], T]) -> tuple[T | None, HandoffError | None]:
    """What ``call`` returns, or the HandoffError it raises (any other exception fails the test)."""
    try:
        return call(), None
    except HandoffError as error:
        return None, error


def reason_of(call: Callable[[], object]) -> str:
    """The reason of the HandoffError that ``call`` raises."""
    with pytest.raises(HandoffError) as caught:
        call()
    return caught.value.reason
