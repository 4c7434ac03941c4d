"""Group commit: every row written once, in fewer transactions than callers, and nobody back before its rows are in."""
from __future__ import annotations

import threading
import time

import pytest

from storage.group_commit import GroupCommit


class Store:
    """A slow write that remembers each batch, like a commit that waits for the disk."""

    def __init__(self, fail_with: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_with = fail_with or set()
        self.lock = threading.Lock()

    def write(self, rows: list[int]) -> None:
        time.sleep(0.02)
        if self.fail_with & set(rows):
            raise RuntimeError("disk full")
        with self.lock:
            self.batches.append(list(rows))

    def written(self) -> set[int]:
        with self.lock:
            return {row for batch in self.batches for row in batch}


def run_callers(group: GroupCommit[int], store: Store, callers: int) -> dict[int, BaseException | None]:
    """Let each caller submit two rows at the same moment; return what each got back."""
    start, outcome = threading.Barrier(callers), {}

    def call(n: int) -> None:
        start.wait()
        try:
            group.submit([2 * n, 2 * n + 1])
            assert {2 * n, 2 * n + 1} <= store.written()  # back only when its rows are in
            outcome[n] = None
        except RuntimeError as exc:
            outcome[n] = exc

    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcome


def test_concurrent_rows_are_written_once_in_fewer_transactions() -> None:
    store = Store()
    outcome = run_callers(GroupCommit(store.write), store, callers=16)
    assert outcome == {n: None for n in range(16)}
    rows = [row for batch in store.batches for row in batch]
    assert sorted(rows) == list(range(32))  # each exactly once
    assert len(store.batches) < 16  # callers shared transactions
    assert all(batch.index(2 * (b // 2)) + 1 == batch.index(2 * (b // 2) + 1)
               for batch in store.batches for b in batch)  # a caller's rows stay together, in its order


def test_a_failed_transaction_fails_exactly_its_callers_and_the_next_ones_go_on() -> None:
    store = Store(fail_with={0})
    group: GroupCommit[int] = GroupCommit(store.write)
    outcome = run_callers(group, store, callers=8)
    failed = {n for n, error in outcome.items() if error is not None}
    assert 0 in failed
    assert store.written() == {row for n in outcome if n not in failed for row in (2 * n, 2 * n + 1)}
    group.submit([100])  # the lead was handed on: a later caller is not stuck
    assert 100 in store.written()


def test_a_lone_caller_writes_at_once() -> None:
    store = Store()
    GroupCommit(store.write).submit([7])
    assert store.batches == [[7]]
    with pytest.raises(RuntimeError):
        GroupCommit(Store(fail_with={1}).write).submit([1])
