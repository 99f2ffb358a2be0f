"""How the CLI prints records: `table` for people, `json` and `csv` for programs."""
from __future__ import annotations

import csv
import json
import sys
from typing import Iterable, Sequence, TextIO

FORMATS = ("table", "json", "csv")


def _cell(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def render(records: Sequence[dict], columns: Sequence[str], fmt: str, out: TextIO = sys.stdout) -> None:
    if fmt == "json":
        json.dump(list(records), out, indent=2, default=str)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_cell(record.get(c)) for c in columns])
    else:
        render_table(([_cell(r.get(c)) for c in columns] for r in records), columns, out)


def render_table(rows: Iterable[Sequence[str]], columns: Sequence[str], out: TextIO = sys.stdout) -> None:
    rows = list(rows)
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")
