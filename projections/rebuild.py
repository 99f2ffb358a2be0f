"""`inboxtrail rebuild`: the projections refolded from the log, the source of truth.

From the events table (default): the log (`email_events`) is read in slices that each hold whole
copies (`ProjectionStore.all_events`), every slice is folded with the same pure `fold` the worker
runs and written to the `*_rebuild` state tables; when every slice is in, they are renamed into
place. From Kafka (`streams.log_replay`): the event topic is first copied from offset 0 into
`email_events_rebuild`, the states are folded from that table the same way, and all three tables
are swapped in together. Because the fold depends only on the set of a copy's events, the rebuilt
tables equal the live ones for every copy whose events are all in the log.

Run it with the worker stopped: what the worker writes while the rebuild runs is dropped with the
old tables at the swap (its events are in the log, so a second rebuild, or the worker's next event
for the copy, brings it back). A failed rebuild leaves the live tables as they were; the next run
starts over.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from projections.delivery import fold_copies
from projections.store import ProjectionStore


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    events: int  # distinct events folded so far (stage "fold"), records copied so far (stage "log")
    copies: int  # copies written so far
    done: bool  # True once the rebuilt tables are in place
    stage: str = "fold"  # "log": copying the log from Kafka; "fold": folding the log into states
    total: int | None = None  # records to copy (stage "log"), when known


def rebuild_from_events_table(
    store: ProjectionStore,
    progress: Callable[[RebuildProgress], None] | None = None,
    batch: int = 50_000,
) -> RebuildProgress:
    """Refold the whole log into fresh state tables; reports after every slice and at the end."""
    report = progress or (lambda _: None)
    store.begin_rebuild()
    final = fold_log_into_rebuild(store, report, batch, rebuilt_log=False)
    store.finish_rebuild()
    report(final)
    return final


def fold_log_into_rebuild(store: ProjectionStore, report: Callable[[RebuildProgress], None], batch: int,
                          rebuilt_log: bool) -> RebuildProgress:
    """Fold the log (`email_events`, or with `rebuilt_log` `email_events_rebuild`) slice by slice
    into the `*_rebuild` state tables; returns the final figures, marked done."""
    events = copies = 0
    for slice_events in store.all_events(batch=batch, rebuild=rebuilt_log):
        states = fold_copies(slice_events)
        store.write_states(list(states.values()), rebuild=True)
        events += len(slice_events)
        copies += len(states)
        report(RebuildProgress(events, copies, done=False))
    return RebuildProgress(events, copies, done=True)
