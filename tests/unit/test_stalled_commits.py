"""`StalledCommits`: a partition whose acknowledged offsets wait behind an unacknowledged committed
offset is sought back to it once the wait exceeds the limit — and only then. The consumer here is
a plain object with the four members of Faust's consumer that the guard reads and calls."""
from __future__ import annotations

import asyncio
from collections import defaultdict

from intervaltree import IntervalTree

from streams.faust_offsets import StalledCommits


class Consumer:
    def __init__(self):
        self._acked = defaultdict(list)
        self._committed_offset = {}
        self._gap = defaultdict(IntervalTree)
        self.sought = []

    async def seek(self, tp, offset):
        self.sought.append((tp, offset))


def run(guard, consumer):
    return asyncio.run(guard.check(consumer))


def test_a_commit_held_by_a_dropped_offset_is_sought_back_after_the_limit_only():
    now = [100.0]
    guard, consumer = StalledCommits(stall_after_s=15, clock=lambda: now[0]), Consumer()
    consumer._committed_offset["p2"] = 86
    consumer._acked["p2"] = list(range(87, 242))  # 86 was dropped, everything after it acknowledged
    consumer._committed_offset["p0"], consumer._acked["p0"] = 420, [419, 420, 421]  # healthy
    assert run(guard, consumer) == []
    now[0] += 14.9
    assert run(guard, consumer) == []
    now[0] += 0.2
    assert run(guard, consumer) == ["p2"]
    assert consumer.sought == [("p2", 86)]


def test_the_wait_starts_again_when_the_commit_moves():
    now = [0.0]
    guard, consumer = StalledCommits(stall_after_s=10, clock=lambda: now[0]), Consumer()
    consumer._committed_offset["p1"], consumer._acked["p1"] = 5, [7, 8]
    run(guard, consumer)
    now[0] = 8.0
    consumer._committed_offset["p1"], consumer._acked["p1"] = 9, [11]  # progress, then a new hole
    assert run(guard, consumer) == []
    now[0] = 17.0
    assert run(guard, consumer) == []
    now[0] = 18.5
    assert run(guard, consumer) == ["p1"]


def test_a_known_gap_at_the_committed_offset_is_not_a_hole():
    now = [0.0]
    guard, consumer = StalledCommits(stall_after_s=1, clock=lambda: now[0]), Consumer()
    consumer._committed_offset["p0"], consumer._acked["p0"] = 10, [12, 13]
    consumer._gap["p0"].addi(10, 12)  # e.g. transaction markers: offsets that carry no message
    run(guard, consumer)
    now[0] = 5.0
    assert run(guard, consumer) == [] and consumer.sought == []
