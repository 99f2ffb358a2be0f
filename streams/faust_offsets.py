"""Two corrections to faust-streaming 0.15's offset bookkeeping, without which a worker that is
killed and restarted can commit offsets of events it never wrote (found by
tests/e2e/test_crash_equivalence.py: 2 of 934 events lost across 10 SIGKILLs).

1. After a rebalance, events fetched under the previous consumer generation are skipped by the
   stream — and acknowledged ("otherwise the lag would increase"). Faust seeks back to the
   committed offsets and fetches them again, so acknowledging the stale copies is wrong: their
   offsets can be committed before the fresh copies are processed. We ignore acknowledgements of
   messages from an older generation; the fresh copies are acknowledged after they are written.
2. `Consumer._new_offset` refuses to commit past a gap at the head of the acknowledged offsets
   only when the gap is more than one offset wide (`min(acked) - committed > 1`), while the
   committed offset is the next offset to read — so a single unacknowledged event at the
   committed position is skipped. We refuse whenever the lowest acknowledged offset lies beyond
   the committed one.

Both keep Faust's at-least-once promise intact for our agents; they can only delay a commit,
never advance one. `apply()` is idempotent and called when the app is created.
"""
from __future__ import annotations

from faust.transport.consumer import Consumer

_APPLIED = "_inboxtrail_offset_fixes"


def apply() -> None:
    if getattr(Consumer, _APPLIED, False):
        return
    original_ack = Consumer.ack
    original_new_offset = Consumer._new_offset

    def ack(self, message) -> bool:
        if message.generation_id != self.app.consumer_generation_id:
            return False  # fetched before the last rebalance; it is fetched and acknowledged again
        return original_ack(self, message)

    def _new_offset(self, tp):
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None:
            lowest = min(acked)
            gap = self._gap[tp]
            if gap:
                lowest = min(lowest, gap.begin())
            if lowest > committed:
                return None  # the event at the committed offset is not acknowledged yet
        return original_new_offset(self, tp)

    Consumer.ack = ack
    Consumer._new_offset = _new_offset
    setattr(Consumer, _APPLIED, True)
