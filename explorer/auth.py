"""Bearer tokens and roles: who is calling, for which tenant, and what they may do.

Tokens are stored only as SHA-256 digests in `<state_dir>/tokens.json` (mode 0600); the token
itself is shown once, when it is created. A token is 32 random bytes, so a plain digest is enough:
there is nothing to brute-force that a salt or a slow hash would protect. The tenant of every
request comes from its token, never from the request, so a user sees only their tenant's data.

The file is re-read when it changes, so `inboxtrail tokens create|revoke` takes effect on a
running server without a restart.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

TOKEN_PREFIX = "itk_"


class Role(StrEnum):
    """Ordered: each role may do everything the roles before it may."""
    reader = "reader"
    investigator = "investigator"
    remediator = "remediator"
    admin = "admin"


class Permission(StrEnum):
    view = "view"
    export = "export"
    preview = "preview"
    act = "act"
    approve = "approve"
    manage_tokens = "manage_tokens"


# the least role that grants each permission
LEAST_ROLE: dict[Permission, Role] = {
    Permission.view: Role.reader,
    Permission.export: Role.investigator,
    Permission.preview: Role.investigator,
    Permission.act: Role.remediator,
    Permission.approve: Role.admin,
    Permission.manage_tokens: Role.admin,
}
_RANK = {role: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a token stands for."""
    user: str
    tenant_id: str
    role: Role
    token_id: str

    def may(self, permission: Permission) -> bool:
        return _RANK[self.role] >= _RANK[LEAST_ROLE[permission]]

    @property
    def permissions(self) -> list[str]:
        return [str(p) for p in Permission if self.may(p)]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    sha256: str
    user: str
    tenant_id: str
    role: Role
    created_at: str

    @property
    def principal(self) -> Principal:
        return Principal(self.user, self.tenant_id, self.role, self.token_id)


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The token file. Thread-safe; writes are atomic (temporary file + rename)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._loaded_stamp: tuple[int, int] | None = None
        self._by_digest: dict[str, TokenRecord] = {}

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> "TokenStore":
        return cls(Path(state_dir) / "tokens.json")

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _refresh(self) -> None:
        stamp = self._stamp()
        if stamp == self._loaded_stamp and (stamp is not None or not self._by_digest):
            return
        records: dict[str, TokenRecord] = {}
        if stamp is not None:
            try:
                document = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise TokenError(f"{self.path} is not valid JSON ({exc}); fix or remove it") from None
            for raw in document.get("tokens", []):
                record = TokenRecord(raw["token_id"], raw["sha256"], raw["user"], raw["tenant_id"],
                                     Role(raw["role"]), raw["created_at"])
                records[record.sha256] = record
        self._by_digest = records
        self._loaded_stamp = stamp

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"tokens": [asdict(r) for r in sorted(self._by_digest.values(), key=lambda r: r.created_at)]}
        temporary = self.path.with_name(self.path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(document, out, indent=2)
        os.replace(temporary, self.path)
        self._loaded_stamp = self._stamp()

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a presented token, or None if it is unknown or revoked."""
        with self._lock:
            self._refresh()
            record = self._by_digest.get(token_digest(token))
        return None if record is None else record.principal

    def create(self, user: str, tenant_id: str, role: str | Role) -> tuple[str, TokenRecord]:
        """A new token for `user` in `tenant_id`: (the token, shown only now; its record)."""
        if not user.strip() or not tenant_id.strip():
            raise TokenError("a token needs a non-empty --user and --tenant")
        try:
            role = Role(role)
        except ValueError:
            raise TokenError(f"unknown role {role!r}; choose one of {', '.join(Role)}") from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(token_id=secrets.token_hex(6), sha256=token_digest(token), user=user.strip(),
                             tenant_id=tenant_id.strip(), role=role,
                             created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        with self._lock:
            self._refresh()
            self._by_digest[record.sha256] = record
            self._save()
        return token, record

    def records(self) -> list[TokenRecord]:
        with self._lock:
            self._refresh()
            return sorted(self._by_digest.values(), key=lambda r: r.created_at)

    def revoke(self, token_id: str) -> TokenRecord:
        with self._lock:
            self._refresh()
            found = [r for r in self._by_digest.values() if r.token_id == token_id]
            if not found:
                raise TokenError(f"no token with id {token_id!r}; see `inboxtrail tokens list`")
            del self._by_digest[found[0].sha256]
            self._save()
        return found[0]
