"""The RFC 5080 duplicate cache on its own: the table of its theory of operation, expiry, eviction,
and what it leaves to the cycle collector (nothing to scan twice)."""

from __future__ import annotations

import gc

from radius.duplicates import DuplicateCache, Key, Verdict

KEY: Key = ("192.0.2.1", 40000, 7, 1812)
A, B = b"A" * 16, b"B" * 16


def test_the_table() -> None:
    cache = DuplicateCache(lifetime=10.0, processing_timeout=30.0)
    assert cache.check(KEY, A, 0.0) == (Verdict.NEW, None)
    assert cache.check(KEY, A, 1.0) == (Verdict.IN_PROGRESS, None)
    assert cache.answered(KEY, A, b"reply-a", 2.0)
    assert cache.check(KEY, A, 3.0) == (Verdict.ANSWERED, b"reply-a")
    assert cache.check(KEY, B, 4.0) == (Verdict.NEW, None)  # the Identifier reused: a new request
    assert not cache.answered(KEY, A, b"late", 5.0)  # superseded
    assert cache.check(KEY, B, 5.0) == (Verdict.IN_PROGRESS, None)


def test_an_answer_lives_lifetime_and_an_unanswered_request_processing_timeout() -> None:
    cache = DuplicateCache(lifetime=10.0, processing_timeout=30.0)
    other: Key = ("192.0.2.1", 40000, 8, 1812)
    cache.check(KEY, A, 0.0)
    cache.answered(KEY, A, b"reply", 1.0)
    cache.check(other, B, 0.0)
    assert cache.check(KEY, A, 10.9) == (Verdict.ANSWERED, b"reply")
    cache.expire(11.0)
    assert len(cache) == 1  # the answer is gone, the unanswered request is not
    assert cache.check(other, B, 29.9) == (Verdict.IN_PROGRESS, None)
    cache.expire(30.0)
    assert len(cache) == 0


def test_a_replaced_entry_outlives_the_queue_item_of_the_one_it_replaced() -> None:
    cache = DuplicateCache(lifetime=10.0, processing_timeout=30.0)
    cache.check(KEY, A, 0.0)  # its pending item is due at 30
    cache.answered(KEY, A, b"a", 1.0)
    cache.check(KEY, B, 25.0)  # the Identifier comes round again: due at 55
    cache.expire(31.0)  # A's items (11 and 30) are due; B must stay
    assert cache.check(KEY, B, 31.0) == (Verdict.IN_PROGRESS, None)
    cache.expire(55.0)
    assert len(cache) == 0


def test_forget_lets_a_retransmission_be_processed_again() -> None:
    cache = DuplicateCache()
    cache.check(KEY, A, 0.0)
    cache.forget(KEY, A)
    assert cache.check(KEY, A, 1.0) == (Verdict.NEW, None)


def test_when_full_the_entry_that_expires_first_goes() -> None:
    cache = DuplicateCache(lifetime=10.0, processing_timeout=30.0, max_entries=2)
    first: Key = ("192.0.2.1", 1, 1, 1812)
    second: Key = ("192.0.2.1", 2, 2, 1812)
    third: Key = ("192.0.2.1", 3, 3, 1812)
    cache.check(first, A, 0.0)
    cache.answered(first, A, b"1", 0.0)  # due at 10: the oldest
    cache.check(second, A, 1.0)  # due at 31
    cache.check(third, A, 2.0)
    assert len(cache) == 2
    assert cache.check(first, A, 3.0) == (Verdict.NEW, None)  # forgotten: processed again
    assert cache.check(third, A, 3.0) == (Verdict.IN_PROGRESS, None)


def test_entries_are_not_scanned_again_by_the_cycle_collector() -> None:
    """Under load the cache holds tens of thousands of entries; once the collector has seen them,
    none of them (entries, keys, expiry queues' items) may stay in its lists: each would be scanned
    again at every collection (see the module docstring)."""
    cache = DuplicateCache()
    gc.collect()
    before = len(gc.get_objects())
    for i in range(5000):
        key: Key = ("192.0.2.1", 40000 + i // 256, i % 256, 1812)
        authenticator = i.to_bytes(16, "big")
        cache.check(key, authenticator, i / 1000)
        cache.answered(key, authenticator, b"reply" * 8, i / 1000)
    gc.collect()
    assert len(cache) == 5000
    assert len(gc.get_objects()) - before < 50  # was ~15,000: an object and two tuples per entry
