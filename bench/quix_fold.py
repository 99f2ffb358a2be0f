"""The inboxtrail projection written with quixstreams, the peer a user would pick, for
`bench/throughput.py`: consume, decode + validate (our codec), fold each copy with `evolve` onto its
state in quixstreams' state store (RocksDB, changelog topic), and write the same `email_events`,
`email_state` and `email_state_by_time` rows (tombstones included) with batched clickhouse-driver
inserts from a `BatchingSink`.

    .venv/bin/python bench/quix_fold.py --bootstrap 127.0.0.1:29092 --topic T --group G \
        --clickhouse-port 29000 --database D --state-dir DIR

Same work as an inboxtrail worker per event (decode, validate, fold, event row, one state row per
copy per batch, by-time rows, the worker's state encoding in a changelogged store), written the way quixstreams'
docs show: a stateful `apply` per record and a sink flushed at each checkpoint (default interval).
Quixstreams keys state by message key (network_message_id), so a copy's state lives under its
tenant + recipient inside that key. Runs until killed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clickhouse_driver import Client  # noqa: E402
from quixstreams import Application, State  # noqa: E402
from quixstreams.sinks import BatchingSink, SinkBatch  # noqa: E402

from projections.delivery import evolve  # noqa: E402
from projections.ddl import BY_TIME_COLUMNS  # noqa: E402
from projections.state_rows import STATE_COLUMNS, by_time_rows, received_at_us, state_row  # noqa: E402
from projections.timeline import EVENT_COLUMNS, event_row  # noqa: E402
from schemas.codec import decode  # noqa: E402
from schemas.validation import validate  # noqa: E402
from streams.state_codec import decode_state, encode_state  # noqa: E402


def fold_record(value: bytes, state: State):
    event = validate(decode(value))
    key = f"{event.tenant_id}\x1f{event.recipient}"
    raw = state.get_bytes(key)
    prior = None if raw is None else decode_state(raw)
    new_state = evolve(prior, event)
    state.set_bytes(key, encode_state(new_state))
    moved = prior is not None and received_at_us(prior) != received_at_us(new_state)
    return event, prior if moved else None, new_state


class ClickHouseSink(BatchingSink):
    def __init__(self, port: int, database: str):
        super().__init__()
        self.port, self.database = port, database
        self.client: Client | None = None

    def setup(self):
        self.client = Client(host="127.0.0.1", port=self.port, database=self.database,
                             settings={"use_numpy": False})

    def write(self, batch: SinkBatch):
        events, states, left = [], {}, []
        for item in batch:
            event, moved_from, state = item.value
            events.append(event_row(event))
            states[state.copy_key] = state
            if moved_from is not None:
                left.append(moved_from)
        rows = [state_row(s) for s in states.values()]
        self.client.execute(f"INSERT INTO email_events ({', '.join(EVENT_COLUMNS)}) VALUES",
                            list(zip(*events)), columnar=True)
        self.client.execute(f"INSERT INTO email_state_by_time ({', '.join(BY_TIME_COLUMNS)}) VALUES",
                            list(zip(*by_time_rows(rows, left))), columnar=True)
        self.client.execute(f"INSERT INTO email_state ({', '.join(STATE_COLUMNS)}) VALUES",
                            list(zip(*rows)), columnar=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--clickhouse-port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    app = Application(broker_address=args.bootstrap, consumer_group=args.group, auto_offset_reset="earliest",
                      state_dir=args.state_dir, loglevel=logging.WARNING)
    topic = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(topic)
    sdf = sdf.apply(fold_record, stateful=True)
    sdf.sink(ClickHouseSink(args.clickhouse_port, args.database))
    app.run()


if __name__ == "__main__":
    main()
