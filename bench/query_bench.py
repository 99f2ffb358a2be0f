"""Read-side latency on a large tenant in the ClickHouse server: timeline, filtered list page, chart.

    .venv/bin/python bench/query_bench.py --port 29000 --database inboxtrail_bench \
        --copies 5000000 --events-per-copy 2 --runs 200

Data is generated server-side (`INSERT … SELECT … FROM numbers(n)`): `--copies` copies of one
tenant (`--recipients` per message), received over the 90 days before `--now`, and
`--events-per-copy` log events each (an OriginalDelivery, then post-delivery events). The state
rows are what the fold would produce for such copies; the bench measures reads, not the fold.
Latencies are measured through the store's public methods (query + transfer + Python decoding),
one query at a time. The bench database is dropped at the end unless `--keep`.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inboxtrail.settings import Settings  # noqa: E402
from projections.ddl import BY_TIME_COLUMNS  # noqa: E402
from projections.queries import EmailQuery  # noqa: E402
from projections.server_store import ClickHouseServerStore  # noqa: E402

TENANT = "bench-big"
DAY_US = 86_400_000_000

# Per copy `number`: message = number / recipients; every fact derives from hashes of the copy or
# message number, so a copy's events and its state agree and reruns give the same data.
_NMID = "concat(lower(hex(cityHash64(intDiv(number, {r:UInt64})))), '-', toString(intDiv(number, {r:UInt64})))"
_RECEIVED_US = ("{now:UInt64} - 90 * 86400000000 + modulo(cityHash64(intDiv(number, {r:UInt64})), 7776000) * 1000000 "
                "+ modulo(number, 1000000)")
_PICK = "arrayElement({values}, 1 + modulo(cityHash64(intDiv(number, {{r:UInt64}}), {salt}), {n}))"


def _pick(values: list[str], salt: int) -> str:
    return _PICK.format(values="[" + ", ".join(f"'{v}'" for v in values) + "]", salt=salt, n=len(values))


_THREAT_SETS = "[[], ['Phish'], ['Spam'], ['Malware'], ['Phish', 'Spam'], [], [], ['Bulk']]"
_METHOD_SETS = "[[], ['UrlDetonation'], ['SpoofDmarc'], ['IpReputation'], ['UrlDetonation', 'SpoofDmarc']]"
_ACTION_SETS = "[[], [], [], ['Zap'], ['Reprocessed', 'Zap'], ['ManualRemediation']]"

STATE_SELECT = {
    "tenant_id": f"'{TENANT}'",
    "network_message_id": _NMID,
    "recipient": "concat('user', toString(modulo(number, 200000)), '@contoso.example')",
    "recipient_domain": "'contoso.example'",
    "internet_message_id": "concat('<', toString(intDiv(number, {r:UInt64})), '@mailer.example>')",
    "direction": _pick(["Inbound", "Inbound", "Inbound", "Outbound", "IntraOrg"], 1),
    "sender_mail_from": "concat('bounce@sender', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 2), 2000)), '.example')",
    "sender_from_address": "concat('news@sender', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 2), 2000)), '.example')",
    "sender_display_name": "concat('Sender ', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 2), 2000)))",
    "sender_domain": "concat('sender', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 2), 2000)), '.example')",
    "sender_ip": "concat('203.0.', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 2), 250)), '.7')",
    "subject": "concat('Subject line number ', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 3), 5000)))",
    "original_delivery_action": _pick(["Delivered", "Delivered", "Delivered", "Junked", "Blocked"], 4),
    "original_location": _pick(["Inbox", "Inbox", "Inbox", "Junk", "Quarantine"], 4),
    "original_threat_types": f"arrayElement({_THREAT_SETS}, 1 + modulo(cityHash64(intDiv(number, {{r:UInt64}}), 5), 8))",
    "original_detection_methods": f"arrayElement({_METHOD_SETS}, 1 + modulo(cityHash64(intDiv(number, {{r:UInt64}}), 6), 5))",
    "latest_delivery_action": _pick(["Delivered", "Delivered", "Junked", "Blocked", "Blocked", "Unknown"], 7),
    "latest_location": _pick(["Inbox", "Inbox", "Junk", "Quarantine", "SoftDeleted", "Unknown"], 7),
    "latest_threat_types": f"arrayElement({_THREAT_SETS}, 1 + modulo(cityHash64(intDiv(number, {{r:UInt64}}), 5), 8))",
    "latest_detection_methods": f"arrayElement({_METHOD_SETS}, 1 + modulo(cityHash64(intDiv(number, {{r:UInt64}}), 6), 5))",
    "additional_actions": f"arrayElement({_ACTION_SETS}, 1 + modulo(cityHash64(number, 8), 6))",
    "urls": "[concat('https://link', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 9), 20000)), '.example/p')]",
    "url_domains": "[concat('link', toString(modulo(cityHash64(intDiv(number, {r:UInt64}), 9), 20000)), '.example')]",
    "attachment_names": "if(modulo(cityHash64(intDiv(number, {r:UInt64}), 10), 4) = 0, ['invoice.pdf'], emptyArrayString())",
    "attachment_types": "if(modulo(cityHash64(intDiv(number, {r:UInt64}), 10), 4) = 0, ['pdf'], emptyArrayString())",
    "attachment_sha256s": "if(modulo(cityHash64(intDiv(number, {r:UInt64}), 10), 4) = 0, "
                          "[lower(hex(cityHash64(intDiv(number, {r:UInt64}), 11)))], emptyArrayString())",
    "attachment_sizes": "if(modulo(cityHash64(intDiv(number, {r:UInt64}), 10), 4) = 0, [toUInt64(120000)], "
                        "emptyArrayUInt64())",
    "size_bytes": "1000 + modulo(cityHash64(intDiv(number, {r:UInt64}), 12), 5000000)",
    "received_at": f"toDateTime(intDiv({_RECEIVED_US}, 1000000))",
    "received_at_us": _RECEIVED_US,
    "first_event_at_us": _RECEIVED_US,
    "last_event_at_us": f"{_RECEIVED_US} + 3600000000",
    "event_count": "toUInt32({e:UInt64})",
    "original_order_at_us": _RECEIVED_US,
    "original_order_event_id": "concat('ev-', toString(number), '-0')",
    "latest_location_order_at_us": f"{_RECEIVED_US} + 3600000000",
    "latest_location_order_event_id": "concat('ev-', toString(number), '-1')",
    "latest_threat_types_order_at_us": _RECEIVED_US,
    "latest_threat_types_order_event_id": "concat('ev-', toString(number), '-0')",
    "latest_detection_methods_order_at_us": _RECEIVED_US,
    "latest_detection_methods_order_event_id": "concat('ev-', toString(number), '-0')",
    "event_digests": "[cityHash64(number, 20), cityHash64(number, 21)]",
    "version": "bitOr(bitShiftLeft(toUInt64({e:UInt64}), 40), modulo(cityHash64(number, 22), 1099511627776))",
}

# email_state_by_time: the same states (no copy moved on the time axis, so no tombstones)
BY_TIME_SELECT = {column: "toUInt8(0)" if column == "superseded" else STATE_SELECT[column] for column in BY_TIME_COLUMNS}

# Per event `number`: copy = number % copies, k = number / copies is the event's place in its copy.
_EVENT_COPY = "modulo(number, {c:UInt64})"
EVENT_SELECT = {
    "tenant_id": f"'{TENANT}'",
    "network_message_id": _NMID.replace("number", _EVENT_COPY),
    "recipient": f"concat('user', toString(modulo({_EVENT_COPY}, 200000)), '@contoso.example')",
    "occurred_at": f"toDateTime(intDiv({_RECEIVED_US.replace('number', _EVENT_COPY)} "
                   "+ intDiv(number, {c:UInt64}) * 3600000000, 1000000))",
    "occurred_at_us": f"{_RECEIVED_US.replace('number', _EVENT_COPY)} + intDiv(number, {{c:UInt64}}) * 3600000000",
    "event_id": f"concat('ev-', toString({_EVENT_COPY}), '-', toString(intDiv(number, {{c:UInt64}})))",
    "source": "if(intDiv(number, {c:UInt64}) = 0, 'System', 'Admin')",
    "type": "if(intDiv(number, {c:UInt64}) = 0, 'OriginalDelivery', 'ZapMoved')",
    "action": "if(intDiv(number, {c:UInt64}) = 0, 'Delivered', 'PhishZap')",
    "result": "if(intDiv(number, {c:UInt64}) = 0, '', 'Success')",
    "to_location": "if(intDiv(number, {c:UInt64}) = 0, 'Inbox', 'Quarantine')",
    "threat_types": "['Phish']",
    "detection_methods": "['UrlDetonation']",
    "actor": "''",
    "request_id": "''",
    "payload_json": "concat('{\"attachments\":[],\"delivery_action\":\"Delivered\",\"delivery_location\":\"Inbox\",'"
                    ", '\"direction\":\"Inbound\",\"internet_message_id\":\"<', toString(number), '@mailer.example>\",'"
                    ", '\"sender\":{\"display_name\":\"Sender\",\"from_address\":\"news@sender.example\",'"
                    ", '\"ip\":\"203.0.113.7\",\"mail_from\":\"bounce@sender.example\"},\"size_bytes\":24576,'"
                    ", '\"subject\":\"Subject line\",\"threat_types\":[\"Phish\"],\"urls\":[]}')",
}


def _insert_select(table: str, columns: dict[str, str], offset: int, rows: int, params: dict[str, int]) -> str:
    """Bench-only generation SQL: every substituted value is an integer from argparse."""
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns.values())} "
           f"FROM (SELECT number + {int(offset)} AS number FROM numbers({int(rows)}))")
    for name, value in params.items():
        sql = sql.replace("{" + name + ":UInt64}", str(int(value)))
    return sql


def generate(store: ClickHouseServerStore, copies: int, events_per_copy: int, recipients: int, now_us: int,
             chunk: int) -> None:
    params = {"r": recipients, "e": events_per_copy, "now": now_us, "c": copies}
    started = time.perf_counter()
    for table, columns, rows in (("email_state", STATE_SELECT, copies),
                                 ("email_state_by_time", BY_TIME_SELECT, copies),
                                 ("email_events", EVENT_SELECT, copies * events_per_copy)):
        for offset in range(0, rows, chunk):
            size = min(chunk, rows - offset)
            store.client.execute(_insert_select(table, columns, offset, size, params))
            print(f"  {table:<19} {offset + size:>11,} / {rows:,}  {time.perf_counter() - started:6.1f} s", flush=True)


def timed(action, runs: int) -> tuple[float, float, float]:
    """(p50, p99, max) in milliseconds over `runs` calls of `action(i)`."""
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        action(run)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))], samples[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=29000)
    parser.add_argument("--database", default="inboxtrail_bench")
    parser.add_argument("--copies", type=int, default=5_000_000)
    parser.add_argument("--events-per-copy", type=int, default=2)
    parser.add_argument("--recipients", type=int, default=5, help="copies per message")
    parser.add_argument("--now", type=int, default=1_796_378_400_000_000, help="epoch µs of 'now' (default 2026-12-04)")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="rows per INSERT … SELECT")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the data of a --keep run")
    parser.add_argument("--optimize", action="store_true", help="OPTIMIZE … FINAL before measuring")
    parser.add_argument("--keep", action="store_true", help="leave the bench database in place")
    args = parser.parse_args()

    settings = Settings(clickhouse_host=args.host, clickhouse_port=args.port, clickhouse_database=args.database)
    store = ClickHouseServerStore(settings)
    try:
        print(f"server {store.server_version() if args.skip_generate else '(creating database)'}")
        if not args.skip_generate:
            store.migrate()
            generate(store, args.copies, args.events_per_copy, args.recipients, args.now, args.chunk)
        if args.optimize:
            started = time.perf_counter()
            store.optimize()
            print(f"  OPTIMIZE FINAL {time.perf_counter() - started:.1f} s")
        counts = store.client.execute("SELECT (SELECT count() FROM email_events), (SELECT count() FROM email_state), "
                                      "(SELECT count() FROM system.parts WHERE database = currentDatabase() "
                                      "AND table = 'email_state' AND active)")[0]
        print(f"rows: email_events {counts[0]:,}, email_state {counts[1]:,} ({counts[2]} active parts); "
              f"server {store.server_version()}")
        rng = random.Random(1)
        messages = args.copies // args.recipients
        sample = [m for (m,) in store.client.execute(
            "SELECT network_message_id FROM email_state WHERE tenant_id = %(t)s AND modulo(cityHash64(recipient), 97) = 0 "
            "LIMIT 1000", {"t": TENANT})]
        rng.shuffle(sample)
        month_ago = args.now - 30 * DAY_US
        filters = [
            dict(any_of={"sender_domain": ["sender17.example"]}),
            dict(any_of={"threat_type": ["Phish"], "latest_location": ["Quarantine"]}, received_from_us=month_ago),
            dict(subject_contains="number 4242"),
            dict(any_of={"url_domain": ["link123.example"]}, none_of={"latest_location": ["Unknown"]}),
            dict(received_from_us=args.now - DAY_US, sort="size"),
        ]
        pivots = ["delivery_action", "latest_location", "threat_type", "sender_domain"]
        results = {
            "timeline of one message (all copies)": timed(
                lambda i: store.timeline(sample[i % len(sample)], TENANT), args.runs),
            "filtered list page (100 rows)": timed(
                lambda i: store.emails(EmailQuery(TENANT, limit=100, **filters[i % len(filters)])), args.runs),
            "30-day chart by day": timed(
                lambda i: store.chart(EmailQuery(TENANT, received_from_us=month_ago, received_to_us=args.now),
                                      pivot=pivots[i % len(pivots)], interval="day"), args.runs),
        }
        # reference, same data and run: the chart as it was read before email_state_by_time existed
        old_chart = ("SELECT intDiv(toUInt32(received_at), 86400) * 86400 AS bucket, latest_location, count() "
                     "FROM email_state FINAL WHERE tenant_id = %(t)s AND received_at_us >= %(f)s "
                     "AND received_at_us < %(u)s GROUP BY bucket, latest_location ORDER BY bucket, latest_location")
        results["  reference: 30-day chart from email_state FINAL"] = timed(
            lambda i: store.client.execute(old_chart, {"t": TENANT, "f": month_ago, "u": args.now}),
            max(10, args.runs // 10))
        for kind, query in enumerate(filters):
            results[f"  list filter {kind + 1}: {query}"] = timed(
                lambda i, q=query: store.emails(EmailQuery(TENANT, limit=100, **q)), max(10, args.runs // 10))
        print(f"\n{messages:,} messages; {args.runs} runs per query, one at a time")
        print(f"{'query':<70} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, (p50, p99, worst) in results.items():
            print(f"{name[:70]:<70} {p50:8.1f} {p99:8.1f} {worst:8.1f}")
    finally:
        if not args.keep:
            store.drop_database()
            print(f"dropped database {args.database}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
