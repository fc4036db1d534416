"""The bounded password verifier: a pool of its own, a bound in all and per NAS, one at a time
for an identity under attack (issue 14, point 5)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from radius.verifier import BoundedVerifier, Overloaded


class GatedHasher:
    """Verifies ``right`` only, once the test opens the gate; records threads and overlap."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.threads: set[str] = set()

    def verify(self, password: str, password_hash: str | None) -> bool:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        self.gate.wait(timeout=30)
        with self.lock:
            self.running -= 1
        return password == "right"


async def settle(verifier: BoundedVerifier, pending: int) -> None:
    """Let the tasks just created reach the verifier."""
    for _ in range(100):
        if verifier.pending == pending:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{verifier.pending} pending, not {pending}")


@pytest.fixture
def hasher() -> GatedHasher:
    return GatedHasher()


async def test_a_nas_gets_a_share_of_the_queue_and_the_queue_a_bound(hasher: GatedHasher) -> None:
    verifier = BoundedVerifier(hasher, threads=2, max_pending=3, max_pending_per_source=2)  # type: ignore[arg-type]
    try:
        flood = [asyncio.create_task(verifier("guess", "h", source="ap-1")) for _ in range(2)]
        await settle(verifier, 2)
        with pytest.raises(Overloaded):
            await verifier("guess", "h", source="ap-1")  # that NAS's share is used up
        other = asyncio.create_task(verifier("right", "h", source="ap-2"))  # another NAS still gets in
        await settle(verifier, 3)
        with pytest.raises(Overloaded):
            await verifier("right", "h", source="ap-3")  # the whole queue is full
        hasher.gate.set()
        assert await other is True
        assert await asyncio.gather(*flood) == [False, False]
        assert await verifier("right", "h", source="ap-1") is True  # room again
        assert all(name.startswith("argon2") for name in hasher.threads)  # never the default executor
    finally:
        hasher.gate.set()
        verifier.close()


async def test_an_identity_under_attack_is_verified_one_at_a_time(hasher: GatedHasher) -> None:
    verifier = BoundedVerifier(hasher, threads=4, max_pending=8)  # type: ignore[arg-type]
    try:
        serial = [
            asyncio.create_task(verifier("guess", "h", source=f"ap-{i}", serial="alice@x")) for i in range(3)
        ]
        await settle(verifier, 3)
        free = asyncio.create_task(verifier("right", "h", source="ap-9"))
        await settle(verifier, 4)
        await asyncio.to_thread(_wait_running, hasher, 2)  # alice's first, and the other one
        hasher.gate.set()
        assert await asyncio.gather(*serial) == [False] * 3
        assert await free is True
        assert hasher.most_at_once == 2  # alice's three never overlapped
    finally:
        hasher.gate.set()
        verifier.close()


def _wait_running(hasher: GatedHasher, n: int) -> None:
    for _ in range(30_000):
        with hasher.lock:
            if hasher.running >= n:
                return
        threading.Event().wait(0.001)
    raise AssertionError(f"{n} verifications never ran at once")
