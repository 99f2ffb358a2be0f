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
    from streams.app import create_store
    from streams.topics import ensure_topics_sync
    for topic, outcome in ensure_topics_sync(settings):
        print(f"topic      {topic:<24} {outcome}")
    store = create_store(settings)
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


def cmd_simulate(settings: Settings, args) -> int:
    import asyncio
    import itertools
    import json

    from schemas.jsonform import event_to_json, format_timestamp, parse_timestamp
    from schemas.validation import TENANT_ID_PATTERN, ValidationError, now_micros
    from streams.publisher import publish_paced
    from streams.simulation import SECOND, SimulationPlan, mail_time_span, message_gap_for, simulate
    tenants = tuple(dict.fromkeys(t.strip() for t in args.tenants.split(",") if t.strip()))
    bad = [t for t in tenants if not TENANT_ID_PATTERN.fullmatch(t)]
    if not tenants or bad:
        _err(f"--tenants: {', '.join(bad) or 'none given'}: give tenant ids matching {TENANT_ID_PATTERN.pattern}, "
             "separated by commas")
        return EXIT_USAGE
    if ((args.events is not None and args.events < 1) or args.rate < 0
            or (args.duration is not None and args.duration <= 0)):
        _err("--events must be >= 1, --rate >= 0 (0: as fast as possible) and --duration > 0")
        return EXIT_USAGE
    if args.output and args.events is None:
        _err("--output needs --events N (how many events to write)")
        return EXIT_USAGE
    # Mail time: by default the run ends within the last hours (twice its expected span plus an
    # hour of slack); the gap depends on the run's size only, so a fixed --start and --seed give
    # the same events on every run.
    now = now_micros()
    expected = args.events or (int(args.rate * args.duration) if args.rate and args.duration else 5_000_000)
    gap = max(1, int(args.message_gap * SECOND)) if args.message_gap else message_gap_for(expected)
    try:
        start = (parse_timestamp(args.start, "--start") if args.start
                 else (now - 2 * mail_time_span(expected, gap) - 3600 * SECOND) // SECOND * SECOND)
    except ValidationError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if start >= now:
        _err(f"--start {args.start} is not in the past; mail time runs from --start up to now")
        return EXIT_USAGE
    events = simulate(SimulationPlan(tenants, args.seed, start, gap, not_after_us=now))
    if args.events is not None:
        events = itertools.islice(events, args.events)
    tty = sys.stderr.isatty()
    line_start, line_end = ("\r", "") if tty else ("", "\n")
    verb = "written" if args.output else "published"
    last = [0, 0.0]

    def progress(published: int, elapsed: float) -> None:
        rate = (published - last[0]) / max(elapsed - last[1], 1e-9)
        last[:] = [published, elapsed]
        print(f"{line_start}{published:>12,} {verb}  {rate:>9,.0f} events/s  {elapsed:7.1f} s", end=line_end,
              file=sys.stderr, flush=True)

    started = time.monotonic()
    if args.output:
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
        count, last_progress = 0, started
        try:
            for count, event in enumerate(events, start=1):
                out.write(json.dumps(event_to_json(event), separators=(",", ":")) + "\n")
                if count % 1000 == 0 and time.monotonic() - last_progress >= 2.0:
                    last_progress = time.monotonic()
                    progress(count, last_progress - started)
        finally:
            if out is not sys.stdout:
                out.close()
        progress(count, time.monotonic() - started)
    else:
        count = asyncio.run(publish_paced(settings, events, rate=args.rate, duration_s=args.duration,
                                          progress=progress))
    if tty:
        print(file=sys.stderr)
    where = {None: settings.events_topic, "-": "standard output"}.get(args.output, args.output)
    print(f"simulated {count} events for {', '.join(tenants)} (seed {args.seed}, mail time from "
          f"{format_timestamp(start)}) -> {where}", file=sys.stderr if args.output == "-" else sys.stdout)
    if args.events is not None and args.duration is None and count < args.events:
        _err(f"mail time reached now after {count} events; "
             "for more, give an earlier --start or a smaller --message-gap")
    return EXIT_OK


# -- read side -----------------------------------------------------------------------------
TIMELINE_COLUMNS = ["time", "tenant", "recipient", "source", "type", "action", "result", "to_location",
                    "threat_types", "actor", "event_id"]


def cmd_timeline(settings: Settings, args) -> int:
    from projections.server_store import ClickHouseServerStore
    from schemas.jsonform import format_timestamp
    if settings.store == "chdb":
        return _timeline_through_api(settings, args)
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


def _timeline_through_api(settings: Settings, args) -> int:
    from explorer.client import ExplorerClient
    params = {"recipient": args.recipient} if args.recipient else {}
    body = ExplorerClient(settings).get_json(f"/api/v1/emails/{args.network_message_id}/timeline", params)
    records = [dict(event, tenant=args.tenant or "") for event in body.get("events", [])]
    if not records:
        _err(f"no events for network message id {args.network_message_id}")
        return EXIT_REJECTED
    render(records, TIMELINE_COLUMNS if args.format == "table" else list(records[0]), args.format)
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


# -- explorer --------------------------------------------------------------------------------
EXPLORE_COLUMNS = ["received_at", "recipient", "subject", "sender_from_address", "delivery_action",
                   "latest_location", "threat_types", "additional_actions", "network_message_id"]


def _read_store(settings: Settings):
    """The store for read commands: with a ClickHouse server, queried directly from this process."""
    if settings.store == "chdb":
        raise SettingsError("with the embedded chDB store, only the process that runs it can read it: "
                            "query the running Explorer API (`inboxtrail run`, /api/v1/emails) instead")
    from projections.server_store import ClickHouseServerStore
    return ClickHouseServerStore(settings)


def _filter_parameters(args) -> dict[str, list[str]]:
    from explorer.email_filters import FILTER_PARAMETERS, PAGING_PARAMETERS
    parameters: dict[str, list[str]] = {}
    for name in (*FILTER_PARAMETERS, *PAGING_PARAMETERS):
        value = getattr(args, name, None)
        if value is not None:
            parameters[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return parameters


def _email_query(args, **options):
    from explorer.email_filters import FilterError, email_query
    try:
        return email_query(args.tenant, _filter_parameters(args), **options)
    except FilterError as exc:
        raise SettingsError(f"--{exc.parameter.replace('_', '-')}: {exc.detail}") from None


def cmd_explore(settings: Settings, args) -> int:
    from explorer.resources import SUMMARY_FIELDS, summary_json
    if settings.store == "chdb":
        from explorer.client import ExplorerClient
        body = ExplorerClient(settings).get_json("/api/v1/emails", _filter_parameters(args))
        render(body["emails"], EXPLORE_COLUMNS if args.format == "table" else list(SUMMARY_FIELDS), args.format)
        if body.get("next_cursor"):
            print(f"more copies match: add --cursor {body['next_cursor']}", file=sys.stderr)
        return EXIT_OK
    try:
        query = _email_query(args)
        store = _read_store(settings)
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_USAGE
    try:
        page = store.emails(query)
    finally:
        store.close()
    records = [summary_json(email) for email in page.emails]
    render(records, EXPLORE_COLUMNS if args.format == "table" else list(SUMMARY_FIELDS), args.format)
    if page.next_cursor:
        print(f"more copies match: add --cursor {page.next_cursor}", file=sys.stderr)
    return EXIT_OK


def cmd_export(settings: Settings, args) -> int:
    import getpass

    from explorer import export
    from explorer.audit import AuditLog
    recipients = args.recipient or []
    if args.timeline and (set(_filter_parameters(args)) - {"recipient"} or len(recipients) > 1):
        _err("--timeline exports one email's events: leave out the list filters (one --recipient at most)")
        return EXIT_USAGE
    if settings.store == "chdb":
        return _export_through_api(settings, args)
    try:
        query = None if args.timeline else _email_query(args, paging=False)
        store = _read_store(settings)
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_USAGE
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")
    try:
        if args.timeline:
            recipient = recipients[0].strip().lower() if recipients else ""
            entries = store.timeline(args.timeline.lower(), args.tenant, recipient)
            if not entries:
                _err(f"no events for network message id {args.timeline} in tenant {args.tenant}")
                return EXIT_REJECTED
            message = export.message_of(store.email_details(args.tenant, args.timeline.lower(), recipient or None))
            chunks = export.timeline_chunks(entries, message, args.format)
            what = {"action": "export.timeline", "network_message_id": args.timeline.lower()}
        else:
            chunks = (export.email_chunk(page, args.format) for page in export.email_pages(store, query))
            out.write(export.email_header(args.format))
            what = {"action": "export.emails", "filter": _filter_parameters(args)}
        AuditLog.in_state_dir(settings.state_dir).record(actor=f"cli:{getpass.getuser()}", tenant_id=args.tenant,
                                                         reason=args.reason or "", format=args.format, **what)
        for chunk in chunks:
            out.write(chunk)
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def _export_through_api(settings: Settings, args) -> int:
    """The API records the export in its audit log, with the reason sent as X-Reason."""
    from explorer.client import ExplorerClient
    client = ExplorerClient(settings)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")
    try:
        if args.timeline:
            params = {"format": "csv", **({"recipient": args.recipient[0]} if args.recipient else {})}
            client.download(f"/api/v1/emails/{args.timeline.lower()}/timeline", params, out, reason=args.reason)
        else:
            client.download("/api/v1/emails", {**_filter_parameters(args), "format": args.format}, out,
                            reason=args.reason)
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def cmd_tokens(settings: Settings, args) -> int:
    import getpass

    from explorer.audit import AuditLog
    from explorer.auth import TokenError, TokenStore
    tokens = TokenStore.in_state_dir(settings.state_dir)
    audit = AuditLog.in_state_dir(settings.state_dir)
    try:
        if args.tokens_command == "create":
            token, record = tokens.create(args.user, args.tenant, args.role)
            audit.record(actor=f"cli:{getpass.getuser()}", tenant_id=record.tenant_id, action="token.create",
                         token_id=record.token_id, user=record.user, role=str(record.role))
            print(token)
            print(f"token {record.token_id} for {record.user} ({record.role}) in tenant {record.tenant_id}; "
                  "it is shown only now, keep it secret", file=sys.stderr)
            return EXIT_OK
        if args.tokens_command == "revoke":
            record = tokens.revoke(args.token_id)
            audit.record(actor=f"cli:{getpass.getuser()}", tenant_id=record.tenant_id, action="token.revoke",
                         token_id=record.token_id, user=record.user)
            print(f"revoked token {record.token_id} of {record.user} in tenant {record.tenant_id}")
            return EXIT_OK
    except TokenError as exc:
        _err(str(exc))
        return EXIT_REJECTED
    records = [{"token_id": r.token_id, "user": r.user, "tenant": r.tenant_id, "role": str(r.role),
                "created_at": r.created_at} for r in tokens.records()]
    render(records, ["token_id", "user", "tenant", "role", "created_at"], args.format)
    return EXIT_OK


def cmd_serve(settings: Settings, args) -> int:
    from explorer.api import serve
    settings = settings.with_overrides(**{k: v for k, v in (("api_host", args.host), ("api_port", args.port)) if v})
    try:
        store = _read_store(settings)
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_USAGE
    from explorer.remediation_service import RemediationService
    from projections.server_store import ClickHouseServerStore
    # remediation commands go to the worker's agent through Kafka; the service gets a connection
    # of its own because a clickhouse-driver client serves one thread
    remediations = RemediationService(settings, ClickHouseServerStore(settings))
    try:
        serve(settings, store, remediations)
    finally:
        store.close()
    return EXIT_OK


def cmd_remediate(settings: Settings, args) -> int:
    import asyncio
    import getpass
    import uuid

    from explorer.audit import AuditLog
    from explorer.remediation_api import CopyTarget, RemediationRejected, RemediationRequest
    from explorer.remediation_service import RemediationService
    from schemas.events import AdminActionKind
    targets = []
    for target in args.target or []:
        nmid, sep, recipient = target.partition(":")
        if not sep or not nmid or not recipient:
            _err(f"--target {target!r}: give NETWORK_MESSAGE_ID:RECIPIENT")
            return EXIT_USAGE
        targets.append(CopyTarget(nmid.strip().lower(), recipient.strip().lower()))
    try:
        query = None if targets else _email_query(args, paging=False)
        store = _read_store(settings)
    except SettingsError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if query is not None and not _filter_parameters(args):
        _err("give --target NMID:RECIPIENT (repeatable) or at least one filter; refusing to act on all mail")
        return EXIT_USAGE
    requester = f"cli:{getpass.getuser()}"
    request = RemediationRequest(str(uuid.uuid4()), args.tenant, AdminActionKind(args.action),
                                 tuple(targets) if targets else query, requester, args.reason)
    service = RemediationService(settings, store)

    async def act():
        try:
            if args.dry_run:
                return await service.preview(request), None
            status = await service.submit(request)
            AuditLog.in_state_dir(settings.state_dir).record(
                actor=requester, tenant_id=args.tenant, action="remediation.request", reason=args.reason,
                request_id=request.request_id, remediation=args.action, target_count=status.target_count)
            deadline = time.monotonic() + args.wait
            while args.wait and status.state in ("Queued", "InProgress") and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                status = await service.status(args.tenant, request.request_id)
            return None, status
        finally:
            await service.close()
    try:
        plans, status = asyncio.run(act())
    except RemediationRejected as exc:
        _err(str(exc))
        return EXIT_REJECTED
    finally:
        store.close()
    if plans is not None:
        render([{"network_message_id": p.network_message_id, "recipient": p.recipient,
                 "latest_location": str(p.latest_location), "destination": str(p.destination),
                 "planned_result": str(p.planned_result) if p.planned_result else "act (ask the mailbox)"}
                for p in plans], ["network_message_id", "recipient", "latest_location", "destination",
                                  "planned_result"], args.format)
        print(f"dry run: {len(plans)} copies, nothing was changed", file=sys.stderr)
        return EXIT_OK
    record = {"request_id": status.request_id, "state": str(status.state), "action": str(status.action),
              "copies": status.target_count, "requester": status.requester,
              **{f"result_{result}": n for result, n in status.counts.items()}}
    render([record], list(record), args.format)
    if status.state == "Proposed":
        print(f"over {settings.remediation_approval_threshold} copies: an admin other than you must approve "
              f"request {status.request_id} (POST /api/v1/remediations/{status.request_id}/approve)", file=sys.stderr)
    return EXIT_OK


def cmd_run(settings: Settings, args) -> int:
    from inboxtrail.run import run
    settings = settings.with_overrides(**{k: v for k, v in (("api_host", args.host), ("api_port", args.port)) if v})
    return run(settings, simulate_events=args.simulate_events, simulate_rate=args.simulate_rate,
               tenant=args.tenant, seed=args.seed)


def _add_filter_options(parser: argparse.ArgumentParser, paging: bool) -> None:
    from explorer.email_filters import EXCLUDE_PREFIX
    from projections.queries import FACETS, SORTS
    parser.add_argument("--tenant", required=True, help="the tenant whose mail to read")
    filters = parser.add_argument_group("filters (a facet option is repeatable: any of the values)")
    for name, facet in FACETS.items():
        choices = sorted(facet.symbols) if facet.symbols else None
        filters.add_argument(f"--{name.replace('_', '-')}", dest=name, action="append", choices=choices,
                             metavar=None if choices else "VALUE")
        filters.add_argument(f"--{(EXCLUDE_PREFIX + name).replace('_', '-')}", dest=EXCLUDE_PREFIX + name,
                             action="append", choices=choices, metavar="VALUE", help=argparse.SUPPRESS)
    filters.add_argument("--subject", help="subject contains (case-insensitive)")
    filters.add_argument("--received-from", dest="received_from", metavar="RFC3339", help="received at or after")
    filters.add_argument("--received-to", dest="received_to", metavar="RFC3339", help="received before")
    filters.add_argument("--size-min", dest="size_min", type=int, metavar="BYTES")
    filters.add_argument("--size-max", dest="size_max", type=int, metavar="BYTES")
    parser.epilog = "Every facet option has a --not-<facet> twin that excludes its values."
    if paging:
        parser.add_argument("--sort", choices=list(SORTS), help="sort key (default received_at)")
        parser.add_argument("--order", choices=["asc", "desc"], help="default desc")
        parser.add_argument("--limit", type=int, help="copies per page (default 100)")
        parser.add_argument("--cursor", help="continue after the page that printed this cursor")


def cmd_rebuild(settings: Settings, args) -> int:
    from projections.rebuild import RebuildProgress, rebuild_from_events_table
    from streams.app import create_store
    from streams.log_replay import LogUnavailable, rebuild_from_kafka
    store = create_store(settings)
    started = time.monotonic()

    def progress(step: RebuildProgress) -> None:
        elapsed = f"({time.monotonic() - started:6.1f} s)"
        if step.stage == "log":
            print(f"rebuild … copying {settings.events_topic}: {step.events:>12,} / {step.total:,} records {elapsed}",
                  file=sys.stderr, flush=True)
            return
        state = "done" if step.done else "…"
        print(f"rebuild {state} {step.events:>12,} events folded into {step.copies:>11,} copies {elapsed}",
              file=sys.stderr, flush=True)
    try:
        if args.source == "kafka":
            copied, final = rebuild_from_kafka(settings, store, progress=progress)
            print(f"email_events, email_state and email_state_by_time rebuilt from {settings.events_topic} "
                  f"(offset 0 on): {copied.records} records, {copied.events} events, {copied.skipped} skipped "
                  f"as not decodable or not valid; {final.copies} copies")
        else:
            final = rebuild_from_events_table(store, progress=progress)
            print(f"email_state and email_state_by_time rebuilt from email_events: "
                  f"{final.copies} copies from {final.events} events")
    except LogUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE if exc.unreachable else EXIT_USAGE
    finally:
        store.close()
    return EXIT_OK


def cmd_demo(settings: Settings, args) -> int:
    from inboxtrail.demo import run_demo
    return run_demo(settings.with_overrides(store="clickhouse"))  # the demo shows the server path


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
    p = add("simulate", cmd_simulate, "publish realistic mail flow (clean, bulk, spam, phishing and malware campaigns, "
                                      "later verdicts, ZAP, remediations, releases); deterministic for a --seed")
    p.add_argument("--tenants", default="contoso", help="comma-separated tenant ids (default: contoso)")
    p.add_argument("--seed", type=int, default=1, help="same seed and --start: same events, ids included (default: 1)")
    p.add_argument("--events", type=int, help="stop after this many events")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--rate", type=float, default=100.0,
                   help="events per second, 0 = as fast as possible (default: 100)")
    p.add_argument("--start", help="mail time of the first message, RFC 3339 "
                                   "(default: so that the run ends before now)")
    p.add_argument("--message-gap", type=float, help="mean seconds of mail time between messages "
                                                     "(default: 2, less for runs over 7 days of mail)")
    p.add_argument("--output", metavar="FILE|-", help="write JSON lines (the `inboxtrail produce` format) instead of "
                                                      "publishing; needs --events")
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
    p = add("explore", cmd_explore, "list email copies that match filters (one page; --cursor for the next)",
            formats=True)
    _add_filter_options(p, paging=True)
    p = add("export", cmd_export, "stream every copy that matches filters, or one email's timeline, as CSV "
                                  "or JSON lines (no row cap; audited)")
    _add_filter_options(p, paging=False)
    p.add_argument("--timeline", metavar="NETWORK_MESSAGE_ID",
                   help="export this email's timeline instead (with --recipient: one copy's)")
    p.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    p.add_argument("--output", default="-", help="file to write (default: standard output)")
    p.add_argument("--reason", help="why (recorded in the audit log)")
    p = add("serve", cmd_serve, "serve the Explorer API and web page (read-only without `inboxtrail run`)")
    p.add_argument("--host", help="listen address (default: INBOXTRAIL_API_HOST)")
    p.add_argument("--port", type=int, help="listen port (default: INBOXTRAIL_API_PORT)")
    tokens = add("tokens", cmd_tokens, "create, list and revoke API bearer tokens (stored hashed)")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    p = tokens_sub.add_parser("create", help="a new token; printed once")
    p.add_argument("--user", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--role", required=True, choices=["reader", "investigator", "remediator", "admin"])
    p = tokens_sub.add_parser("list", help="tokens without their secrets")
    p.add_argument("--format", choices=FORMATS, default="table")
    p = tokens_sub.add_parser("revoke", help="stop a token from working")
    p.add_argument("token_id")
    p = add("remediate", cmd_remediate, "act on email copies (selected or every match of the filters): "
            "move to junk/inbox/deleted items, soft or hard delete", formats=True)
    p.add_argument("--action", required=True, choices=["MoveToJunk", "MoveToInbox", "MoveToDeletedItems",
                                                       "SoftDelete", "HardDelete"])
    p.add_argument("--reason", required=True, help="why (recorded with the request and in the audit log)")
    p.add_argument("--target", action="append", metavar="NMID:RECIPIENT", help="one copy (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="show the per-copy plan, change nothing")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait up to this long for results")
    _add_filter_options(p, paging=False)
    p = add("rebuild", cmd_rebuild, "rebuild the projections from the log (the email_events table, or the "
            "event topic from offset 0); run with the worker stopped")
    p.add_argument("--from", dest="source", choices=["events-table", "kafka"], default="events-table",
                   help="events-table (default): refold email_state and email_state_by_time from email_events; "
                        "kafka: also rebuild email_events from the event topic, offset 0 on")
    p = add("run", cmd_run, "worker + Explorer API in one process (needed with the embedded chDB store), "
            "with simulated traffic")
    p.add_argument("--tenant", default="contoso", help="tenant of the simulated traffic and of the printed token")
    p.add_argument("--simulate-events", type=int, default=20000, help="events of simulated traffic (0: none)")
    p.add_argument("--simulate-rate", type=float, default=2000.0, help="events/s of simulated traffic (0: max)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
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
    from explorer.client import ExplorerUnreachable
    try:
        return args.handler(settings, args)
    except (ServiceError, ExplorerUnreachable) as exc:
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
