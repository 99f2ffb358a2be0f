"""`inboxtrail rebuild`: email_state refolded from the log (email_events), the source of truth.

The log is read in slices that each hold whole copies (`ProjectionStore.all_events`), every slice is
folded with the same pure `fold` the worker runs and written to `email_state_rebuild`; when every
slice is in, that table is renamed into place. Because the fold depends only on the set of a copy's
events, the rebuilt table equals the live one for every copy whose events are all in the log.

Run it with the worker stopped: states the worker writes to email_state while the rebuild runs
are dropped with the old table at the swap (their events are in the log, so a second rebuild, or
the worker's next event for the copy, brings them back). A failed rebuild leaves email_state as it
was; the next run starts over.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from projections.ddl import REBUILD_TABLE
from projections.delivery import fold_copies
from projections.store import ProjectionStore


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    events: int  # distinct events folded so far
    copies: int  # copies written so far
    done: bool  # True once the rebuilt table is in place


def rebuild_from_events_table(
    store: ProjectionStore,
    progress: Callable[[RebuildProgress], None] | None = None,
    batch: int = 50_000,
) -> RebuildProgress:
    """Refold the whole log into a fresh email_state; reports after every slice and at the end."""
    report = progress or (lambda _: None)
    store.begin_rebuild()
    events = copies = 0
    for slice_events in store.all_events(batch=batch):
        states = fold_copies(slice_events)
        store.write_states(list(states.values()), table=REBUILD_TABLE)
        events += len(slice_events)
        copies += len(states)
        report(RebuildProgress(events, copies, done=False))
    store.finish_rebuild()
    final = RebuildProgress(events, copies, done=True)
    report(final)
    return final
