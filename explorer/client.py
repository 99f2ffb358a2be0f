"""The Explorer API seen from the CLI: how read commands reach data held by a running
`inboxtrail run` (with the embedded chDB store only that process can open the data directory).

The token comes from `INBOXTRAIL_API_TOKEN` (`inboxtrail run` prints one); the tenant is the
token's, exactly as for any API caller.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Mapping, Sequence

from inboxtrail.settings import Settings


class ExplorerUnreachable(RuntimeError):
    """The API could not be asked or refused; the message says why and what to do."""


class ExplorerClient:
    def __init__(self, settings: Settings):
        if not settings.api_token:
            raise ExplorerUnreachable(
                "with the embedded chDB store, read commands ask the running `inboxtrail run`: set "
                "INBOXTRAIL_API_TOKEN to a token it printed (or create one: `inboxtrail tokens create`)")
        self.base = f"http://{settings.api_host}:{settings.api_port}"
        self.token = settings.api_token

    def _open(self, path: str, params: Mapping[str, Sequence[str] | str], reason: str = ""):
        query = urllib.parse.urlencode([(k, v) for k, vs in params.items()
                                        for v in ([vs] if isinstance(vs, str) else vs)])
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        headers = {"Authorization": f"Bearer {self.token}", **({"X-Reason": reason} if reason else {})}
        request = urllib.request.Request(url, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            try:
                body = json.loads(error.read())
                detail = f"{body.get('error')}: {body.get('parameter') or ''} {body.get('detail') or ''}".strip()
            except ValueError:
                detail = error.reason
            raise ExplorerUnreachable(f"the Explorer API answered {error.code} for {path}: {detail}") from None
        except OSError as error:
            raise ExplorerUnreachable(f"cannot reach the Explorer API at {self.base} ({error}); "
                                      "is `inboxtrail run` running?") from None

    def get_json(self, path: str, params: Mapping[str, Sequence[str] | str] | None = None) -> dict:
        with self._open(path, params or {}) as response:
            return json.loads(response.read())

    def download(self, path: str, params: Mapping[str, Sequence[str] | str], out: IO[str], reason: str = "") -> None:
        """Stream a CSV / JSON-lines export to `out` without holding it in memory."""
        with self._open(path, params, reason) as response:
            for chunk in iter(lambda: response.read(65536), b""):
                out.write(chunk.decode("utf-8"))
