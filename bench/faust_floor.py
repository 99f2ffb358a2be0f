"""Faust's own cost per event, for `bench/throughput.py`: an agent configured like inboxtrail's
(same consumer settings, `noack_take` batches, every event acknowledged) that does nothing else —
no decode, no fold, no table, no writes. Its rate is the ceiling of any Faust worker on this
machine; what inboxtrail's worker adds on top of it is our code.

    .venv/bin/python bench/faust_floor.py --bootstrap 127.0.0.1:29092 --topic T --group G \
        --partitions 6 --expect N --datadir DIR [--web-port P]

Prints one JSON line when it has taken `--expect` events, `{"first_at": …, "done_at": …}`
(time.time() of the first and the last batch), then exits.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import faust


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--datadir", required=True)
    parser.add_argument("--web-port", type=int, default=0, help="Faust's worker web server (unused) binds here")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--batch-window", type=float, default=0.2)
    args = parser.parse_args()
    app = faust.App(args.group, broker=f"kafka://{args.bootstrap}", store="memory://", datadir=args.datadir,
                    topic_partitions=args.partitions, topic_disable_leader=True,
                    consumer_auto_offset_reset="earliest", web_enabled=False, autodiscover=False,
                    broker_commit_every=args.batch_size, broker_commit_interval=1.0,
                    stream_buffer_maxsize=args.batch_size * 2)
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=args.partitions)
    seen = {"events": 0, "first_at": None}

    @app.agent(topic, concurrency=1)
    async def floor(stream):
        async for batch in stream.noack_take(args.batch_size, within=args.batch_window):
            if seen["first_at"] is None:
                seen["first_at"] = time.time()
            for event in batch:
                await stream.ack(event)
            seen["events"] += len(batch)
            if seen["events"] >= args.expect:
                print(json.dumps({"first_at": seen["first_at"], "done_at": time.time(), "events": seen["events"]}),
                      flush=True)
                sys.stderr.flush()
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--web-port", str(args.web_port or free_port())]
    app.main()


if __name__ == "__main__":
    main()
