"""Events per second for the event codec on one core, ours next to plain fastavro and `avro`.

    .venv/bin/python bench/codec_bench.py [--seconds 0.5] [--repeat 7]

The workload is one typical OriginalDelivery envelope (~225 bytes single-object encoded). Each
row is the best of `--repeat` timed runs (the least disturbed by other work on the machine) and
the median next to it. "ours" decodes into `MailFlowEvent`; the fastavro and avro rows decode
the same body into dicts, which is less work than building events, and are there to show what
the codec costs compared with the obvious alternative.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import avro.io  # noqa: E402
import avro.schema  # noqa: E402
import fastavro  # noqa: E402

from schemas.catalog import load_catalog, without_logical_types  # noqa: E402
from schemas.codec import classify, decode, encode  # noqa: E402
from schemas.events import Sender  # noqa: E402
from tests.malformed_corpus import DELIVERY  # noqa: E402
from tests.strategies import avro_record  # noqa: E402

# the corpus's valid delivery, trimmed to the typical size (~225 bytes): no URL, shorter names
TYPICAL = dataclasses.replace(DELIVERY, payload=dataclasses.replace(
    DELIVERY.payload, internet_message_id="<CAF1@fab.example>", subject="Invoice overdue", urls=(),
    sender=Sender("billing@fab.example", "billing@fab.example", "Fabrikam", "203.0.113.45")))


def rate(action, seconds: float, repeat: int) -> tuple[float, float]:
    """(best, median) calls per second of `action` over `repeat` runs of about `seconds` each."""
    n = 1000
    while True:
        start = time.perf_counter()
        for _ in range(n):
            action()
        if time.perf_counter() - start > seconds / 4:
            break
        n *= 2
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            action()
        rates.append(n / (time.perf_counter() - start))
    return max(rates), statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    current = load_catalog().current
    single = encode(TYPICAL)
    confluent = encode(TYPICAL, wire="confluent")
    body = single[10:]
    with_logical = fastavro.parse_schema(current.schema)
    plain = fastavro.parse_schema(without_logical_types(current.schema))
    record = avro_record(TYPICAL)
    logical_record = fastavro.schemaless_reader(io.BytesIO(body), with_logical, None)
    avro_schema = avro.schema.parse(json.dumps(current.schema))
    avro_reader = avro.io.DatumReader(avro_schema)
    avro_writer = avro.io.DatumWriter(avro_schema)

    def avro_decode():
        return avro_reader.read(avro.io.BinaryDecoder(io.BytesIO(body)))

    avro_datum = avro_decode()

    def avro_encode():
        out = io.BytesIO()
        avro_writer.write(avro_datum, avro.io.BinaryEncoder(out))
        return out.getvalue()

    def fastavro_encode(schema, datum):
        def run():
            out = io.BytesIO()
            fastavro.schemaless_writer(out, schema, datum)
            return out.getvalue()
        return run

    rows = [
        ("decode", "ours -> MailFlowEvent, single-object", lambda: decode(single)),
        ("decode", "ours -> MailFlowEvent, Confluent", lambda: decode(confluent)),
        ("decode+validate", "ours classify(), single-object", lambda: classify(single)),
        ("decode", "fastavro -> dict, logical types", lambda: fastavro.schemaless_reader(io.BytesIO(body), with_logical, None)),
        ("decode", "fastavro -> dict, no logical types", lambda: fastavro.schemaless_reader(io.BytesIO(body), plain, None)),
        ("decode", "avro 1.12 -> dict", avro_decode),
        ("encode", "ours MailFlowEvent, single-object", lambda: encode(TYPICAL)),
        ("encode", "ours MailFlowEvent, Confluent", lambda: encode(TYPICAL, wire="confluent")),
        ("encode", "fastavro dict, logical types", fastavro_encode(with_logical, logical_record)),
        ("encode", "fastavro dict, no logical types", fastavro_encode(plain, record)),
        ("encode", "avro 1.12 dict", avro_encode),
    ]
    print(f"# codec bench: {len(single)}-byte single-object OriginalDelivery, Python {platform.python_version()}, "
          f"fastavro {fastavro.__version__}, best/median of {args.repeat} runs, one core")
    print(f"| op | implementation | best events/s | median events/s |\n|---|---|---:|---:|")
    for op, name, action in rows:
        best, median = rate(action, args.seconds, args.repeat)
        print(f"| {op} | {name} | {best:,.0f} | {median:,.0f} |")


if __name__ == "__main__":
    main()
