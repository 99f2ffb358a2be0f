"""The audit log of the Explorer: every remediation request, approval, export and token change,
with actor, tenant, time and reason.

Append-only JSON lines in `<state_dir>/audit.jsonl`, one record per line, written with a single
`write` on a file opened in append mode, so concurrent writers never interleave inside a record.
The actions themselves are also events in the log (`AdminAction` with actor and request id); this
file additionally holds what never becomes an event: who asked, who approved, who exported what.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

from schemas.jsonform import format_timestamp


class AuditLog:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> "AuditLog":
        return cls(Path(state_dir) / "audit.jsonl")

    def record(self, *, actor: str, tenant_id: str, action: str, reason: str = "", **details) -> dict:
        entry = {"at": format_timestamp(time.time_ns() // 1000),
                 "actor": actor, "tenant_id": tenant_id, "action": action, "reason": reason, **details}
        line = (json.dumps(entry, separators=(",", ":"), sort_keys=True, default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        return entry

    def entries(self, tenant_id: str | None = None) -> Iterator[dict]:
        try:
            with open(self.path) as lines:
                for line in lines:
                    entry = json.loads(line)
                    if tenant_id is None or entry.get("tenant_id") == tenant_id:
                        yield entry
        except FileNotFoundError:
            return
