"""`inboxtrail …` — thin dispatch: parse arguments, call the owning module, print the outcome.

Exit codes: 0 success, 1 the command ran but some input was rejected or a check failed,
2 usage or configuration error, 3 a service is unavailable.
"""
from __future__ import annotations

import argparse
import sys
import time

from inboxtrail.output import FORMATS, render
from inboxtrail.settings import Settings, SettingsError, load_settings

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


def _err(message: str) -> None:
    print(f"inboxtrail: {message}", file=sys.stderr)


# -- services ------------------------------------------------------------------------------
def cmd_up(settings: Settings, args) -> int:
    from deploy import local
    started = time.monotonic()
    local.up(settings)
    print(f"services up in {time.monotonic() - started:.1f} s (state in {settings.state_dir.resolve()})")
    return cmd_status(settings, args)


def cmd_down(settings: Settings, args) -> int:
    from deploy import local
    local.down(settings)
    return EXIT_OK


def cmd_status(settings: Settings, args) -> int:
    from deploy import local
    statuses = local.status(settings)
    records = [{"service": s.name, "version": s.version, "address": s.address,
                "health": "healthy" if s.healthy else f"DOWN ({s.detail})", "pid": s.pid or ""} for s in statuses]
    render(records, ["service", "version", "address", "health", "pid"], args.format)
    return EXIT_OK if all(s.healthy for s in statuses) else EXIT_UNAVAILABLE


def cmd_migrate(settings: Settings, args) -> int:
    from projections.server_store import ClickHouseServerStore
    from streams.topics import ensure_topics_sync
    for topic, outcome in ensure_topics_sync(settings):
        print(f"topic      {topic:<24} {outcome}")
    store = ClickHouseServerStore(settings)
    try:
        for version, name, outcome in store.migrate():
            print(f"migration  {version:>3} {name:<20} {outcome}")
    finally:
        store.close()
    return EXIT_OK


# -- streams -------------------------------------------------------------------------------
def cmd_worker(settings: Settings, args) -> int:
    from streams.worker import run_worker
    return run_worker(settings)


def cmd_produce(settings: Settings, args) -> int:
    from streams.publisher import produce_json_lines
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        _err(f"cannot read {args.file}: {exc.strerror}")
        return EXIT_USAGE
    try:
        report = produce_json_lines(settings, source, name="<stdin>" if args.file == "-" else args.file)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return EXIT_OK if report.rejected == 0 else EXIT_REJECTED


# -- read side -----------------------------------------------------------------------------
TIMELINE_COLUMNS = ["time", "tenant", "recipient", "source", "type", "action", "result", "to_location",
                    "threat_types", "actor", "event_id"]


def cmd_timeline(settings: Settings, args) -> int:
    from projections.server_store import ClickHouseServerStore
    from schemas.jsonform import format_timestamp
    store = ClickHouseServerStore(settings)
    try:
        entries = store.timeline(args.network_message_id, tenant_id=args.tenant or "", recipient=args.recipient or "")
    finally:
        store.close()
    if not entries:
        _err(f"no events for network message id {args.network_message_id}"
             + (f" in tenant {args.tenant}" if args.tenant else ""))
        return EXIT_REJECTED
    records = [{"time": format_timestamp(e.occurred_at_us), "tenant": e.tenant_id, "network_message_id": e.network_message_id,
                "recipient": e.recipient, "source": e.source, "type": e.type, "action": e.action, "result": e.result,
                "to_location": e.to_location, "threat_types": list(e.threat_types),
                "detection_methods": list(e.detection_methods), "actor": e.actor, "request_id": e.request_id,
                "event_id": e.event_id, "payload": e.payload} for e in entries]
    columns = TIMELINE_COLUMNS if args.format == "table" else list(records[0])
    render(records, columns, args.format)
    return EXIT_OK


DLQ_COLUMNS = ["dlq_offset", "rejected_at", "reason", "field", "source", "key", "bytes"]


def _dead_letter_record(dlq_offset: int, letter) -> dict:
    return {"dlq_offset": dlq_offset, "rejected_at": letter.rejected_at, "reason": letter.reason,
            "field": letter.field or "", "source": f"{letter.topic}[{letter.partition}]@{letter.offset}",
            "key": (letter.key or b"").decode(errors="replace"), "bytes": len(letter.value or b""),
            "detail": letter.detail}


def cmd_dlq(settings: Settings, args) -> int:
    import asyncio

    from streams.dead_letters import read_dead_letters, replay_dead_letters
    if args.dlq_command == "list":
        letters = asyncio.run(read_dead_letters(settings, start_offset=args.start, limit=args.limit))
        if args.reason:
            letters = [(o, l) for o, l in letters if l.reason == args.reason]
        render([_dead_letter_record(o, l) for o, l in letters],
               DLQ_COLUMNS if args.format == "table" else DLQ_COLUMNS + ["detail"], args.format)
        if args.format == "table":
            print(f"{len(letters)} dead letter(s) in {settings.dlq_topic}", file=sys.stderr)
        return EXIT_OK
    if args.dlq_command == "show":
        found = asyncio.run(read_dead_letters(settings, start_offset=args.offset, limit=1))
        if not found or found[0][0] != args.offset:
            _err(f"no dead letter at offset {args.offset} of {settings.dlq_topic}; see `inboxtrail dlq list`")
            return EXIT_REJECTED
        offset, letter = found[0]
        record = _dead_letter_record(offset, letter)
        record["value_hex"] = (letter.value or b"").hex()
        for name, value in record.items():
            print(f"{name:<12} {value}")
        return EXIT_OK
    # replay
    letters = asyncio.run(read_dead_letters(settings, start_offset=0))
    offsets = set(args.offset or [])
    chosen = [(o, l) for o, l in letters
              if (o in offsets if offsets else bool(args.all or args.reason))
              and (not args.reason or l.reason == args.reason)]
    if not chosen:
        _err("nothing to replay: give --offset N (repeatable), --reason R or --all")
        return EXIT_REJECTED
    replayed = asyncio.run(replay_dead_letters(settings, chosen))
    print(f"replayed {replayed} dead letter(s) to {settings.events_topic}")
    return EXIT_OK


def cmd_demo(settings: Settings, args) -> int:
    from inboxtrail.demo import run_demo
    return run_demo(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inboxtrail", description="Threat Explorer for mail flow.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help_text: str, formats: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        if formats:
            p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
        return p

    add("up", cmd_up, "start local Kafka (KRaft) and ClickHouse server; idempotent", formats=True)
    add("down", cmd_down, "stop the local services (data is kept)")
    add("status", cmd_status, "show each local service, its version, address and health", formats=True)
    add("migrate", cmd_migrate, "create the Kafka topics and ClickHouse tables; safe to repeat")
    add("worker", cmd_worker, "run the stream worker (Faust) that projects mailflow.events into ClickHouse")
    p = add("produce", cmd_produce, "publish JSON-lines events (one per line) to mailflow.events")
    p.add_argument("file", metavar="FILE|-", help="JSON-lines file, or - for standard input")
    p = add("timeline", cmd_timeline, "show the ordered events of an email (all copies, or one recipient)", formats=True)
    p.add_argument("network_message_id", metavar="NETWORK_MESSAGE_ID")
    p.add_argument("--tenant", help="only this tenant's copies")
    p.add_argument("--recipient", help="only this recipient's copy")
    dlq = add("dlq", cmd_dlq, "see and re-publish dead letters (events the worker rejected)")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    p = dlq_sub.add_parser("list", help="list dead letters with reason and origin")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--reason", help="only this reason label")
    p.add_argument("--start", type=int, default=0, help="first DLQ offset to read")
    p.add_argument("--limit", type=int, default=None, help="at most this many")
    p = dlq_sub.add_parser("show", help="one dead letter with its bytes")
    p.add_argument("offset", type=int)
    p = dlq_sub.add_parser("replay", help="re-publish dead letters to mailflow.events after a fix")
    p.add_argument("--offset", type=int, action="append", help="DLQ offset to replay (repeatable)")
    p.add_argument("--reason", help="only dead letters with this reason")
    p.add_argument("--all", action="store_true", help="replay every dead letter (with --reason: all of that reason)")
    add("demo", cmd_demo, "services up, worker, a sample event published and its timeline shown")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_USAGE
    from deploy.local import ServiceError
    try:
        return args.handler(settings, args)
    except ServiceError as exc:
        _err(str(exc))
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # connection refused etc.: say which service and what to do
        hint = _service_hint(exc)
        if hint is None:
            raise
        _err(hint)
        return EXIT_UNAVAILABLE


def _service_hint(exc: Exception) -> str | None:
    from aiokafka.errors import KafkaConnectionError
    from clickhouse_driver.errors import NetworkError
    if isinstance(exc, KafkaConnectionError):
        return f"cannot reach Kafka ({exc}); is it running? try `inboxtrail up` and `inboxtrail status`"
    if isinstance(exc, (NetworkError, ConnectionRefusedError)):
        return f"cannot reach ClickHouse ({exc}); is it running? try `inboxtrail up` and `inboxtrail status`"
    return None


if __name__ == "__main__":
    sys.exit(main())
