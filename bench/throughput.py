"""End-to-end throughput, freshness and memory of the projection worker, side by side with a raw
baseline, the same fold written with quixstreams and Kafka's own consumer ceiling — all in one run
on one broker and one ClickHouse server.

    .venv/bin/python bench/throughput.py --events 300000 --repeat 3            # throughput table
    .venv/bin/python bench/throughput.py --events 300000 --freshness 60        # + freshness at 50 %
    .venv/bin/python bench/throughput.py --rss-events 1000000 --only rss       # worker memory
    .venv/bin/python bench/throughput.py --only inboxtrail,inboxtrail-before --before-repo DIR  # A/B

By default it runs against the test session's services (Kafka 127.0.0.1:29092, ClickHouse server
on 29000, state under `.inboxtrail-test`; start them with the test suite or `inboxtrail up` with the
test environment); `--services env` reads the `INBOXTRAIL_*` environment instead. Every measured
system gets its own consumer group and its own database, all reading one backlog topic
`bench_<run>.events` (6 partitions) produced once from `streams.simulation` (fixed seed). Topics,
databases and on-disk state of the run are dropped at the end (`--keep` keeps them).

How a system is timed: start its process, poll ClickHouse every 0.25 s until every event is in
`email_events` and (for systems that fold) every copy is in `email_state FINAL`; `total` is from
process start, `steady` from the first visible row (so Faust/quixstreams start-up is not in it).
CPU is the process's user+system time from /proc; RSS its VmRSS. Results also go to
`<state>/bench/<run>/results.json`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from clickhouse_driver import Client  # noqa: E402

from inboxtrail.settings import Settings, load_settings  # noqa: E402
from projections.server_store import ClickHouseServerStore  # noqa: E402
from streams.publisher import publish_events, publish_paced  # noqa: E402
from streams.simulation import SimulationPlan, message_gap_for, simulate  # noqa: E402
from streams.topics import ensure_topics_sync  # noqa: E402

TEST_SERVICES = {
    "INBOXTRAIL_STATE_DIR": str(REPO / ".inboxtrail-test"),
    "INBOXTRAIL_STORE": "clickhouse",
    "INBOXTRAIL_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
    "INBOXTRAIL_KAFKA_CONTROLLER_PORT": "29093",
    "INBOXTRAIL_CLICKHOUSE_PORT": "29000",
    "INBOXTRAIL_CLICKHOUSE_HTTP_PORT": "28123",
}
TENANTS = ("contoso", "fabrikam", "northwind", "adatum")
SYSTEMS = ("inboxtrail", "inboxtrail-before", "baseline", "quixstreams", "faust-floor", "kafka-perf")
DAY_US = 86_400_000_000


def base_env(services: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXTRAIL_")} if services == "test" \
        else dict(os.environ)
    if services == "test":
        env.update(TEST_SERVICES)
    return env


def env_for(base: dict[str, str], run: str, name: str, partitions: int, state_dir: Path, port: int,
            **extra: str) -> dict[str, str]:
    env = dict(base)
    env.update({
        "INBOXTRAIL_EVENTS_TOPIC": f"{run}.events" if name != "fresh" else f"{run}_fresh.events",
        "INBOXTRAIL_DLQ_TOPIC": f"{run}_{name}.dlq", "INBOXTRAIL_COMMANDS_TOPIC": f"{run}_{name}.commands",
        "INBOXTRAIL_PARTITIONS": str(partitions), "INBOXTRAIL_CLICKHOUSE_DATABASE": f"{run}_{name}",
        "INBOXTRAIL_CONSUMER_GROUP": f"{run}_{name}", "INBOXTRAIL_WORKER_WEB_PORT": str(port),
        "INBOXTRAIL_STATE_DIR": str(state_dir), "INBOXTRAIL_STORE": "clickhouse",
    })
    env.update(extra)
    return env


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the backlog ----------------------------------------------------------------------------

def simulated(count: int, seed: int, copies: set):
    now_us = int(time.time() * 1_000_000)
    gap = message_gap_for(count)
    plan = SimulationPlan(tenants=TENANTS, seed=seed, start_us=now_us - 7 * DAY_US, message_gap_us=gap,
                          not_after_us=now_us)
    for event in islice(simulate(plan), count):
        copies.add(event.copy_key)
        yield event


def produce_backlog(settings: Settings, count: int, seed: int) -> dict:
    ensure_topics_sync(settings)
    copies: set = set()
    started = time.monotonic()
    published = asyncio.run(publish_events(settings, simulated(count, seed, copies)))
    seconds = time.monotonic() - started
    return {"events": published, "copies": len(copies), "produce_s": round(seconds, 1),
            "produce_events_per_s": round(published / seconds)}


# -- one measured system ----------------------------------------------------------------------

def prepare_database(settings: Settings) -> None:
    store = ClickHouseServerStore(settings)
    store.migrate()
    store.close()


def drop_database(settings: Settings) -> None:
    store = ClickHouseServerStore(settings)
    store.drop_database()


def wait_projected(proc: subprocess.Popen, client: Client, events: int, copies: int | None,
                   timeout: float, rss_every: float = 0.0) -> dict:
    """Poll until `events` rows are in email_events (and `copies` in email_state FINAL)."""
    started = time.monotonic()
    first_row_at = None
    rss_series: list[tuple[float, float, int]] = []
    peak_rss = 0.0
    last_rss = -1e9
    seen = 0
    cpu = 0.0
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} after {now - started:.1f} s")
        cpu = cpu_seconds(proc.pid)
        rss = rss_mb(proc.pid)
        peak_rss = max(peak_rss, rss)
        seen = client.execute("SELECT count() FROM email_events")[0][0]
        if rss_every and now - last_rss >= rss_every:
            rss_series.append((round(now - started, 1), round(rss, 1), seen))
            last_rss = now
        if seen and first_row_at is None:
            first_row_at = now
        if seen >= events and (copies is None
                               or client.execute("SELECT count() FROM email_state FINAL")[0][0] >= copies):
            done = time.monotonic()
            break
        if now - started > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s with {seen} of {events} events written")
        time.sleep(0.25)
    return {"total_s": round(done - started, 2), "steady_s": round(done - first_row_at, 2),
            "events_per_s_total": round(events / (done - started)),
            "events_per_s_steady": round(events / (done - first_row_at)),
            "cpu_s": round(cpu, 1), "cpu_us_per_event": round(cpu / events * 1e6, 1),
            "peak_rss_mb": round(peak_rss), "rss_series": rss_series, "load_after": loadavg()}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_system(system: str, args, run: str, name: str, base: dict, backlog: dict, work: Path,
               extra_env: dict | None = None, rss_every: float = 0.0) -> dict:
    (work / name).mkdir(parents=True, exist_ok=True)
    env = env_for(base, run, name, args.partitions, work / name, free_port(), **(extra_env or {}))
    settings = load_settings(env=env)
    prepare_database(settings)
    log = open(work / f"{name}.log", "ab")
    ch = ["--clickhouse-port", str(settings.clickhouse_port), "--database", settings.clickhouse_database]
    kafka = ["--bootstrap", settings.kafka_bootstrap, "--topic", settings.events_topic,
             "--group", settings.consumer_group]
    cwd = REPO
    if system in ("inboxtrail", "inboxtrail-before"):
        ensure_topics_sync(settings)
        argv = [sys.executable, "-m", "inboxtrail.cli", "worker"]
        if system == "inboxtrail-before":  # another checkout of the code: `python -m` imports from cwd
            cwd = Path(args.before_repo).resolve()
    elif system == "baseline":
        argv = [sys.executable, str(REPO / "bench" / "raw_baseline.py"), *kafka, *ch]
    else:
        argv = [sys.executable, str(REPO / "bench" / "quix_fold.py"), *kafka, *ch,
                "--state-dir", str(work / name / "quix")]
    load_before = loadavg()
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    client = Client(host=settings.clickhouse_host, port=settings.clickhouse_port,
                    database=settings.clickhouse_database, settings={"use_numpy": False})
    profiler = None
    try:
        if system in args.profile.split(","):
            # collapsed stacks of the whole run (start-up included), sampled without pausing the process
            profiler = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                                         str(proc.pid), "--rate", "100", "--nonblocking", "--format", "raw",
                                         "--output", str(work / f"{name}.profile.txt")],
                                        stdout=log, stderr=subprocess.STDOUT)
        copies = None if system == "baseline" else backlog["copies"]
        result = wait_projected(proc, client, backlog["events"], copies, args.timeout, rss_every)
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        stop(proc)
        client.disconnect()
        log.close()
    result.update(system=system, name=name, load_before=load_before)
    if not args.keep:
        drop_database(settings)
    return result


def faust_floor(settings: Settings, run: str, events: int, name: str, partitions: int, work: Path) -> dict:
    """Faust alone (bench/faust_floor.py): it reports its own first and last batch times."""
    (work / name).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(REPO / "bench" / "faust_floor.py"), "--bootstrap", settings.kafka_bootstrap,
            "--topic", f"{run}.events", "--group", f"{run}_{name}", "--partitions", str(partitions),
            "--expect", str(events), "--datadir", str(work / name)]
    load_before = loadavg()
    started_wall, started = time.time(), time.monotonic()
    log_path = work / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        cpu = 0.0
        while proc.poll() is None:
            try:
                cpu = cpu_seconds(proc.pid)
            except (FileNotFoundError, IndexError):
                pass
            if time.monotonic() - started > 600:
                stop(proc)
                raise RuntimeError("faust-floor timed out")
            time.sleep(0.25)
    # the Faust worker sends stdout to its log: the report is the last line carrying "first_at"
    line = [line for line in log_path.read_text().splitlines() if '"first_at"' in line][-1]
    report = json.loads(line[line.index("{"):line.rindex("}") + 1])
    return {"system": "faust-floor", "name": name, "total_s": round(report["done_at"] - started_wall, 2),
            "steady_s": round(report["done_at"] - report["first_at"], 2),
            "events_per_s_total": round(events / (report["done_at"] - started_wall)),
            "events_per_s_steady": round(events / (report["done_at"] - report["first_at"])),
            "cpu_s": round(cpu, 1), "cpu_us_per_event": round(cpu / events * 1e6, 1),
            "load_before": load_before, "load_after": loadavg()}


def kafka_perf(settings: Settings, run: str, events: int, name: str) -> dict:
    lib = settings.state_dir.resolve() / "kafka" / "lib"
    argv = ["java", "-Xmx512m", "-cp", f"{lib}/*", "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server", settings.kafka_bootstrap, "--topic", f"{run}.events",
            "--messages", str(events), "--group", f"{run}_{name}", "--timeout", "60000"]
    load_before = loadavg()
    started = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(f"ConsumerPerformance failed: {out.stderr[-2000:]}")
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    header = [h.strip() for h in lines[-2].split(",")]
    values = [v.strip() for v in lines[-1].split(",")]
    row = dict(zip(header, values))
    return {"system": "kafka-perf", "name": name, "events_per_s_steady": round(float(row["nMsg.sec"])),
            "mb_per_s": float(row["MB.sec"]), "total_s": round(wall, 2),
            "events_per_s_total": round(events / wall), "raw": row, "load_before": load_before,
            "load_after": loadavg()}


# -- freshness at a paced rate ----------------------------------------------------------------

def histogram(port: int, name: str, labels: dict[str, str] | None = None) -> list[tuple[float, float]]:
    """Cumulative buckets of the series of `name` with these `labels` (besides `le`)."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    buckets = []
    for match in re.finditer(rf'^{name}_bucket{{([^}}]*)}} (\S+)$', body, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if {k: v for k, v in found.items() if k != "le"} == (labels or {}):
            buckets.append((float(found["le"]), float(match.group(2))))
    return buckets


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_bound, lower_count = bound, count
    return buckets[-1][0]


FRESHNESS_SECONDS = "inboxtrail_projection_freshness_seconds"
WRITE_SECONDS, WRITE_LABELS = "inboxtrail_store_write_seconds", {"store": "clickhouse"}


def increase(after: list[tuple[float, float]], before: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cumulative buckets observed between two scrapes of one histogram."""
    return [(bound, count - old) for (bound, count), (_, old) in zip(after, before)]


def freshness(args, run: str, base: dict, work: Path, rate: float, seconds: float) -> dict:
    port = free_port()
    (work / "fresh").mkdir(parents=True, exist_ok=True)
    env = env_for(base, run, "fresh", args.partitions, work / "fresh", port)
    settings = load_settings(env=env)
    ensure_topics_sync(settings)
    prepare_database(settings)
    log = open(work / "fresh.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "inboxtrail.cli", "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=REPO)
    client = Client(host=settings.clickhouse_host, port=settings.clickhouse_port,
                    database=settings.clickhouse_database, settings={"use_numpy": False})
    try:
        # warm up: a few events through the whole path, so the timed part has no start-up in it
        copies: set = set()
        warm = list(simulated(200, args.seed + 1, copies))
        asyncio.run(publish_events(settings, warm))
        wait_projected(proc, client, len(warm), None, 120)
        before = histogram(port, FRESHNESS_SECONDS)
        writes_before = histogram(port, WRITE_SECONDS, WRITE_LABELS)
        copies = set()
        events = simulated(int(rate * seconds * 1.2) + 1000, args.seed + 2, copies)
        load_before = loadavg()
        published = asyncio.run(publish_paced(settings, events, rate=rate, duration_s=seconds))
        result = wait_projected(proc, client, published + len(warm), None, 300)
        after = histogram(port, FRESHNESS_SECONDS)
        writes_after = histogram(port, WRITE_SECONDS, WRITE_LABELS)
    finally:
        stop(proc)
        client.disconnect()
        log.close()
    delta, writes = increase(after, before), increase(writes_after, writes_before)
    if not args.keep:
        drop_database(settings)
    return {"system": "inboxtrail", "name": "freshness", "rate": round(rate), "seconds": seconds,
            "published": published, "p50_s": round(quantile(delta, 0.50), 3),
            "p99_s": round(quantile(delta, 0.99), 3), "max_bucket_s": next(
                (b for b, c in delta if c >= delta[-1][1]), None),
            "buckets": delta, "write_p50_s": round(quantile(writes, 0.50), 3),
            "write_p99_s": round(quantile(writes, 0.99), 3), "write_buckets": writes,
            "cpu_s": result["cpu_s"], "peak_rss_mb": result["peak_rss_mb"],
            "load_before": load_before, "load_after": loadavg()}


# -- clean-up ---------------------------------------------------------------------------------

async def _delete_topics(settings: Settings, run: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if run in t]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


def summarize(results: list[dict]) -> list[dict]:
    by_system: dict[str, list[dict]] = {}
    for result in results:
        if result.get("name") in ("freshness",) or result.get("name", "").startswith("rss"):
            continue
        by_system.setdefault(result["system"], []).append(result)
    rows = []
    for system, runs in by_system.items():
        steady = [r["events_per_s_steady"] for r in runs]
        total = [r["events_per_s_total"] for r in runs]
        rows.append({"system": system, "runs": len(runs), "steady_median": round(statistics.median(steady)),
                     "steady_min": min(steady), "steady_max": max(steady),
                     "total_median": round(statistics.median(total)),
                     "cpu_us_per_event": [r.get("cpu_us_per_event") for r in runs],
                     "peak_rss_mb": [r.get("peak_rss_mb") for r in runs]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="backlog size for the throughput runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", default=",".join(SYSTEMS),
                        help=f"comma-separated subset of {', '.join(SYSTEMS)}, freshness, rss")
    parser.add_argument("--freshness", type=float, default=0.0,
                        help="seconds of paced publishing at --freshness-rate (default: 50 %% of inboxtrail's "
                             "median steady rate in this run)")
    parser.add_argument("--freshness-rate", type=float, default=0.0)
    parser.add_argument("--rss-events", type=int, default=0, help="backlog for the worker memory runs")
    parser.add_argument("--rss-stores", default="memory://,rocksdb://")
    parser.add_argument("--before-repo", default="",
                        help="a checkout of the code before a change: adds system inboxtrail-before, its worker")
    parser.add_argument("--worker-env", action="append", default=[], metavar="INBOXTRAIL_X=VALUE",
                        help="extra settings for the measured inboxtrail workers (e.g. INBOXTRAIL_BATCH_SIZE=5000)")
    parser.add_argument("--services", choices=("test", "env"), default="test")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--profile", default="", help="comma-separated systems to record with py-spy "
                        "(collapsed stacks in <state>/bench/<run>/<name>.profile.txt)")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics, databases and state")
    args = parser.parse_args()

    only = set(args.only.split(","))
    if args.freshness:
        only.add("freshness")
    if args.rss_events:
        only.add("rss")
    if "freshness" in only and not args.freshness_rate and "inboxtrail" not in only:
        parser.error("freshness needs --freshness-rate, or inboxtrail in --only to take 50 % of its measured rate")
    base = base_env(args.services)
    worker_env = dict(item.split("=", 1) for item in args.worker_env)
    run = datetime.now(timezone.utc).strftime("bench_%Y%m%d%H%M%S")
    root = load_settings(env=base)
    work = root.state_dir.resolve() / "bench" / run
    work.mkdir(parents=True, exist_ok=True)
    report = {"run": run, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "cores": os.cpu_count(), "load_at_start": loadavg(),
              "results": []}
    results = report["results"]

    def save():
        (work / "results.json").write_text(json.dumps(report, indent=1))

    backlog_settings = load_settings(env=env_for(base, run, "backlog", args.partitions, work, 0))
    try:
        throughput_systems = [s for s in SYSTEMS if s in only and (s != "inboxtrail-before" or args.before_repo)]
        if throughput_systems or ("freshness" in only and not args.freshness_rate):
            backlog = produce_backlog(backlog_settings, args.events, args.seed)
            report["backlog"] = backlog
            print(f"backlog: {backlog}", flush=True)
            for attempt in range(1, args.repeat + 1):
                for system in throughput_systems:
                    name = f"{system.replace('-', '')}{attempt}"
                    if system == "kafka-perf":
                        result = kafka_perf(root, run, backlog["events"], name)
                    elif system == "faust-floor":
                        result = faust_floor(root, run, backlog["events"], name, args.partitions, work)
                    else:
                        result = run_system(system, args, run, name, base, backlog, work,
                                            worker_env if system.startswith("inboxtrail") else None)
                    results.append(result)
                    save()
                    print(json.dumps({k: v for k, v in result.items() if k not in ("rss_series", "raw")}),
                          flush=True)
            report["summary"] = summarize(results)
            for row in report["summary"]:
                print(json.dumps(row), flush=True)
        if "freshness" in only:
            rate = args.freshness_rate or 0.5 * next(
                r["steady_median"] for r in report["summary"] if r["system"] == "inboxtrail")
            result = freshness(args, run, base, work, rate, args.freshness or 60.0)
            results.append(result)
            save()
            print(json.dumps({k: v for k, v in result.items() if k not in ("buckets", "write_buckets")}), flush=True)
        if "rss" in only:
            rss_settings = load_settings(env=env_for(base, f"{run}_rss", "backlog", args.partitions, work, 0))
            backlog = produce_backlog(rss_settings, args.rss_events, args.seed + 3)
            report["rss_backlog"] = backlog
            print(f"rss backlog: {backlog}", flush=True)
            for store in args.rss_stores.split(","):
                name = "rss_" + store.split(":")[0]
                result = run_system("inboxtrail", args, f"{run}_rss", name, base, backlog, work,
                                    {"INBOXTRAIL_TABLE_STORE": store}, rss_every=5.0)
                results.append(result)
                save()
                print(json.dumps(result), flush=True)
    finally:
        save()
        print(f"results: {work / 'results.json'}", flush=True)
        if not args.keep:
            deleted = asyncio.run(_delete_topics(root, run))
            print(f"deleted {len(deleted)} topics", flush=True)
            for child in work.iterdir():
                if child.is_dir() and not child.name.endswith(".txt"):
                    shutil.rmtree(child, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
