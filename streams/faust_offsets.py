"""Corrections to faust-streaming 0.15's offset bookkeeping, without which a worker that is
killed and restarted can commit offsets of events it never wrote (found by
tests/e2e/test_crash_equivalence.py: 2 of 934 events lost across 10 SIGKILLs).

1. Events fetched under the previous consumer generation, or delivered while a rebalance or the
   start-up recovery holds the flow, are skipped by the stream — and acknowledged ("otherwise the
   lag would increase"). Faust seeks back to the committed offsets and fetches them again, so
   acknowledging the skipped copies is wrong: their offsets can be committed before the fresh
   copies are processed (the crash test lost 38 events to the flow-control case: a worker killed
   seconds after start had committed past events it skipped during its recovery). We ignore
   acknowledgements of messages from an older generation or made while the flow is held; the
   fresh copies are acknowledged after they are written.
2. `Consumer._new_offset` refuses to commit past a gap at the head of the acknowledged offsets
   only when the gap is more than one offset wide (`min(acked) - committed > 1`), while the
   committed offset is the next offset to read — so a single unacknowledged event at the
   committed position is skipped. We refuse whenever the lowest acknowledged offset lies beyond
   the committed one.

All of these keep Faust's at-least-once promise intact for our agents; they can only delay a
commit, never advance one. `apply()` is idempotent and called when the app is created.

3. With (1) and (2) a message Faust drops without acknowledging — the crash test saw one, the first
   offset after the committed one, fetched under a stale generation by a worker started right
   after a kill — no longer loses its event, but holds the partition's commit back for good: the
   later events are written and acknowledged, the dropped one never comes again. `StalledCommits`
   (a worker timer) finds partitions whose acknowledged offsets have waited behind an
   unacknowledged committed offset for `stall_after_s`, and seeks them back to that offset, so the
   dropped event is fetched again (the ones after it are projected twice, which is harmless).

4. When the offset Faust reads next jumps ahead of the last one it read, it records the offsets in
   between as a *gap* and counts them as acknowledged (meant for transaction markers and compacted
   topics). inboxtrail's topics have neither — producers are not transactional, retention is
   delete-only — so a jump means messages were fetched and never delivered to the stream: a fresh
   clone's crash test lost 83 records of one partition this way after (1)–(3). Gaps are no longer
   recorded; the unacknowledged offsets hold the commit (2) and `StalledCommits` fetches them again.
"""
from __future__ import annotations

import logging
import time

from faust.transport.consumer import Consumer

_APPLIED = "_inboxtrail_offset_fixes"
log = logging.getLogger(__name__)


def _lowest_pending(consumer: Consumer, tp) -> int | None:
    """The lowest acknowledged (or known-gap) offset of `tp` not yet committed, if any."""
    acked = consumer._acked[tp]
    if not acked:
        return None
    lowest = min(acked)
    gap = consumer._gap[tp]
    return min(lowest, gap.begin()) if gap else lowest


def apply() -> None:
    if getattr(Consumer, _APPLIED, False):
        return
    original_ack = Consumer.ack
    original_new_offset = Consumer._new_offset

    def ack(self, message) -> bool:
        if message.generation_id != self.app.consumer_generation_id or not self.app.flow_control.is_active():
            # fetched before the last rebalance, or skipped by the stream while a rebalance holds
            # the flow: Faust seeks back to the committed offsets afterwards and it comes again
            return False
        return original_ack(self, message)

    def _new_offset(self, tp):
        committed = self._committed_offset[tp]
        lowest = _lowest_pending(self, tp)
        if lowest is not None and committed is not None and lowest > committed:
            return None  # the event at the committed offset is not acknowledged yet
        return original_new_offset(self, tp)

    async def _add_gap(self, tp, offset_from: int, offset_to: int) -> None:
        return None  # see 4.: on our topics a jump is never a real gap

    Consumer.ack = ack
    Consumer._new_offset = _new_offset
    Consumer._add_gap = _add_gap
    setattr(Consumer, _APPLIED, True)


class StalledCommits:
    """Seeks back partitions whose commit has been held by an unacknowledged offset for
    `stall_after_s` (see 3. above). Call `check` periodically; returns the partitions sought back."""

    def __init__(self, stall_after_s: float = 15.0, clock=time.monotonic):
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._held_since: dict = {}

    async def check(self, consumer: Consumer) -> list:
        now = self._clock()
        sought = []
        held: dict = {}
        for tp in list(consumer._acked):
            committed = consumer._committed_offset.get(tp)
            lowest = _lowest_pending(consumer, tp)
            if committed is None or lowest is None or lowest <= committed:
                continue
            previous = self._held_since.get(tp)
            since = previous[1] if previous and previous[0] == committed else now
            if now - since < self.stall_after_s:
                held[tp] = (committed, since)
                continue
            log.warning("%s: offset %d was never acknowledged while %d..%d were; seeking back to it to fetch it "
                        "again", tp, committed, lowest, max(consumer._acked[tp]))
            await consumer.seek(tp, committed)
            sought.append(tp)
        self._held_since = held
        return sought
