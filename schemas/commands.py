"""Commands on `mailflow.commands`: one remediation command per email copy.

Keyed by network_message_id, like the events, so the command for a copy is consumed by the
worker that owns that copy's state (the topics are co-partitioned). The value is a small JSON
document with a version field `v`: commands are short-lived instructions between our own API and
our own agent, not the analytics contract, so they do not need Avro's schema evolution; readers
reject versions they do not know rather than guess.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from schemas.events import AdminActionKind
from schemas.validation import ValidationError, normalize_address

COMMAND_VERSION = 1
RESULT_EVENT_NAMESPACE = uuid.UUID("6f1d7c2e-4b7a-4c1e-9a51-0d3f7b1e2c44")


@dataclass(frozen=True, slots=True)
class RemediationCommand:
    request_id: str
    tenant_id: str
    network_message_id: str
    recipient: str
    action: AdminActionKind
    requester: str
    reason: str
    requested_at: int  # µs since the epoch, UTC

    @property
    def result_event_id(self) -> str:
        """The id of the AdminAction event that reports this command's outcome. Deterministic, so
        a command processed twice (redelivery after a crash) yields one event, not two."""
        name = "\x1f".join((self.request_id, self.tenant_id, self.network_message_id, self.recipient))
        return str(uuid.uuid5(RESULT_EVENT_NAMESPACE, name))


def encode_command(command: RemediationCommand) -> bytes:
    return json.dumps({"v": COMMAND_VERSION, "request_id": command.request_id, "tenant_id": command.tenant_id,
                       "network_message_id": command.network_message_id, "recipient": command.recipient,
                       "action": str(command.action), "requester": command.requester, "reason": command.reason,
                       "requested_at": command.requested_at}, separators=(",", ":")).encode()


def decode_command(data: bytes) -> RemediationCommand:
    try:
        obj = json.loads(data)
    except (ValueError, TypeError) as exc:
        raise ValidationError("bad_command", None, f"not a JSON command: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != COMMAND_VERSION:
        raise ValidationError("bad_command", "v", f"unsupported command version {obj.get('v') if isinstance(obj, dict) else None!r}")
    try:
        return RemediationCommand(
            request_id=str(obj["request_id"]), tenant_id=str(obj["tenant_id"]),
            network_message_id=str(obj["network_message_id"]), recipient=normalize_address(str(obj["recipient"])),
            action=AdminActionKind(obj["action"]), requester=str(obj["requester"]), reason=str(obj.get("reason", "")),
            requested_at=int(obj["requested_at"]))
    except KeyError as exc:
        raise ValidationError("missing", str(exc.args[0]), "is required") from None
    except (ValueError, TypeError) as exc:
        raise ValidationError("bad_command", None, str(exc)) from None
