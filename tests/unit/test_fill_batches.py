"""Batches by count and by bytes (imap.batch_size, imap.batch_bytes): what the daemon fetches at once."""

from __future__ import annotations

from mailrobot.outside.imap import fill_batches

MB = 1 << 20


def test_batches_stop_at_the_byte_budget_and_the_count() -> None:
    uids = list(range(1, 11))
    sizes = dict.fromkeys(uids, 10 * MB)
    assert fill_batches(uids, sizes, count=100, budget=32 * MB) == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    small = dict.fromkeys(uids, 1000)
    assert fill_batches(uids, small, count=4, budget=32 * MB) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_a_message_larger_than_the_budget_goes_alone() -> None:
    sizes = {1: MB, 2: 60 * MB, 3: MB, 4: MB}
    assert fill_batches([1, 2, 3, 4], sizes, count=100, budget=32 * MB) == [[1], [2], [3, 4]]


def test_a_message_without_a_size_costs_nothing_and_order_is_kept() -> None:
    assert fill_batches([5, 3, 9], {5: 20 * MB, 9: 20 * MB}, count=100, budget=32 * MB) == [[5, 3], [9]]
    assert fill_batches([], {}, count=100, budget=MB) == []
