"""`email_state_by_time` rows with tombstones: whatever the batching and the order in which a
worker's writes land (duplicates included), ReplacingMergeTree's FINAL — simulated here — leaves
exactly the copy's final state visible, at its final received time."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.ddl import BY_TIME_COLUMNS
from projections.delivery import fold
from projections.state_rows import by_time_rows, fold_batch, received_at_us, state_row
from tests.unit.test_fold_properties import arrivals, event_sets

KEY = [BY_TIME_COLUMNS.index(c) for c in ("tenant_id", "received_at_us", "network_message_id", "recipient")]
VERSION, SUPERSEDED = BY_TIME_COLUMNS.index("version"), BY_TIME_COLUMNS.index("superseded")


def final_view(writes: list[list[tuple]]) -> list[tuple]:
    """FINAL of ReplacingMergeTree(version) over the rows of `writes`, then `superseded = 0`."""
    surviving: dict[tuple, tuple] = {}
    for rows in writes:
        for row in rows:
            key = tuple(row[i] for i in KEY)
            kept = surviving.get(key)
            if kept is not None and kept[VERSION] == row[VERSION]:
                # the engine keeps either of two rows of one version: they must not differ
                assert kept == row, "two different rows of one version at one sorting key"
            if kept is None or row[VERSION] > kept[VERSION]:
                surviving[key] = row
    return [row for row in surviving.values() if row[SUPERSEDED] == 0]


@given(event_sets, st.data())
def test_only_the_final_state_is_visible_whatever_the_batches_and_write_order(events_of_copy, data):
    arrived = data.draw(arrivals(events_of_copy))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(arrived) - 1)), max_size=4)))
    batches = [arrived[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrived)]) if arrived[a:b]]
    writes, state = [], None
    for batch in batches:
        replaced = [] if state is None else [state]
        state = fold(batch, state)
        writes.append(by_time_rows([state_row(state)], replaced))
    landed = data.draw(st.permutations(writes + data.draw(st.lists(st.sampled_from(writes), max_size=2))))
    final = fold(events_of_copy)
    assert final_view(landed) == by_time_rows([state_row(final)])
    assert final_view(landed)[0][KEY[1]] == received_at_us(final)


def test_a_state_that_did_not_move_leaves_no_tombstone():
    from tests.fold_scenarios import CAMPAIGN_START, MINUTE, CopyEvents, original_delivery, seeded_uuids, zap
    copy = CopyEvents("contoso", "m-1", "alice@contoso.example", seeded_uuids("still"))
    delivered = copy.event(CAMPAIGN_START, original_delivery())
    before = fold([delivered])
    after = fold([copy.event(CAMPAIGN_START + MINUTE, zap())], before)
    assert [row[SUPERSEDED] for row in by_time_rows([state_row(after)], [before])] == [0]


@given(event_sets, st.data())
def test_attempts_killed_between_the_store_and_the_table_leave_nothing_behind(events_of_copy, data):
    """The worker's order: store write, then table. A worker killed in between has written the fold
    of the table's state with a prefix of the redelivered events (any length: its batch may have
    been cut longer or shorter than the one that succeeds); the table still holds the old state."""
    arrived = data.draw(arrivals(events_of_copy))
    table: dict = {}
    writes: list[list[tuple]] = []
    position = 0
    while position < len(arrived):
        for _ in range(data.draw(st.integers(0, 2))):  # killed attempts, each from `position`
            end = data.draw(st.integers(position + 1, len(arrived)))
            folded, left = fold_batch(((None, e) for e in arrived[position:end]), lambda e: e.copy_key,
                                      lambda key, _: table.get(key))
            writes.append(by_time_rows([state_row(state) for state, _ in folded.values()], left))
        end = data.draw(st.integers(position + 1, len(arrived)))
        folded, left = fold_batch(((None, e) for e in arrived[position:end]), lambda e: e.copy_key,
                                  lambda key, _: table.get(key))
        writes.append(by_time_rows([state_row(state) for state, _ in folded.values()], left))
        table.update({key: state for key, (state, _) in folded.items()})
        position = end
    final = fold(events_of_copy)
    assert final_view(data.draw(st.permutations(writes))) == by_time_rows([state_row(final)])
