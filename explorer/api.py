"""The Explorer's HTTP API (`/api/v1`, OpenAPI at `/openapi.json`) and the web page at `/`.

Handlers are thin: authenticate (middleware), check the role, parse into the read side's types
(`explorer.email_filters` → `projections.queries.EmailQuery`), call the store or the remediation
flow, hand back `explorer.resources` shapes. The tenant of every read and action is the token's;
no parameter can name another tenant.

The store is synchronous (clickhouse-driver / chDB) and its connection is not shared between
threads, so every store call runs on one dedicated thread: the event loop never blocks on
ClickHouse, and the store sees one call at a time.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from explorer import export, openapi
from explorer.audit import AuditLog
from explorer.auth import Permission, Principal, TokenStore
from explorer.email_filters import (
    FilterError,
    chart_request,
    email_query,
    json_filter_parameters,
    multidict_parameters,
)
from explorer.remediation_api import (
    ApprovalRefused,
    CopyTarget,
    RemediationRejected,
    RemediationRequest,
    Remediations,
    RequestState,
)
from explorer.resources import chart_json, copy_json, plan_json, status_json, summary_json, timeline_json
from inboxtrail.settings import Settings
from projections.queries import MAX_PAGE_SIZE, EmailQuery
from projections.store import ProjectionStore
from schemas.events import AdminActionKind
from streams import metrics

log = logging.getLogger("inboxtrail.explorer")

STATIC_DIR = Path(__file__).with_name("static")
API_PREFIX = "/api/v1"
SIMILAR_EMAILS = 50
MAX_SELECTED_COPIES = 50_000  # one request's explicit selection; a filter has no such cap
MAX_REASON_CHARS = 2000

STORE = web.AppKey("store", ProjectionStore)
REMEDIATIONS = web.AppKey("remediations", object)
TOKENS = web.AppKey("tokens", TokenStore)
AUDIT = web.AppKey("audit", AuditLog)
STORE_THREAD = web.AppKey("store_thread", ThreadPoolExecutor)
PRINCIPAL = web.RequestKey("principal", Principal)
ACTIONS = tuple(kind.value for kind in AdminActionKind if kind != AdminActionKind.Unknown)


class ApiError(Exception):
    """A request the API refuses: status, a short error, the parameter at fault and why."""

    def __init__(self, status: int, error: str, parameter: str | None = None, detail: str = "",
                 headers: dict[str, str] | None = None):
        super().__init__(f"{status} {error}: {parameter}: {detail}")
        self.status = status
        self.body = {"error": error, "parameter": parameter, "detail": detail}
        self.headers = headers

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def _filter_error(exc: FilterError) -> ApiError:
    return ApiError(422, "invalid parameter", exc.parameter, exc.detail)


# -- middlewares -------------------------------------------------------------------------------
@web.middleware
async def count_requests(request: web.Request, handler):
    """`inboxtrail_api_request*` by route template (bounded labels), method and status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        template = route.canonical if route is not None else "unmatched"
        metrics.observe_api_request(template, request.method, status, time.perf_counter() - started)


@web.middleware
async def json_errors(request: web.Request, handler):
    """Every refusal is JSON `{"error", "parameter", "detail"}`; internal errors keep their
    traceback in the log and tell the caller nothing about internals."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = "no such route; see /openapi.json" if exc.status == 404 else ""
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return ApiError(exc.status, exc.reason.lower(), None, detail, headers=allow).response()
    except FilterError as exc:
        return _filter_error(exc).response()
    except RemediationRejected as exc:
        return ApiError(422, "remediation rejected", None, str(exc)).response()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return ApiError(500, "internal error", None, "the server log has the details").response()


@web.middleware
async def authenticate(request: web.Request, handler):
    """`/api/` needs `Authorization: Bearer <token>`; the rest (page, OpenAPI, health, metrics)
    holds no tenant data and is open."""
    if request.path.startswith("/api/"):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="inboxtrail"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "Authorization", "send `Authorization: Bearer <token>`; "
                           "create one with `inboxtrail tokens create`", headers=challenge)
        principal = request.app[TOKENS].authenticate(token.strip())
        if principal is None or not principal.tenant_id:
            raise ApiError(401, "unauthorized", "Authorization", "unknown or revoked token", headers=challenge)
        request[PRINCIPAL] = principal
    return await handler(request)


def _require(request: web.Request, permission: Permission) -> Principal:
    principal = request[PRINCIPAL]
    if not principal.may(permission):
        raise ApiError(403, "forbidden", None,
                       f"role {principal.role} may not {permission}; ask an admin for a role that may")
    return principal


async def _read(request: web.Request, call: Callable[..., Any], *args, **kwargs) -> Any:
    """Run a store call on the store's thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[STORE_THREAD], partial(call, *args, **kwargs))


def _parameters(request: web.Request) -> dict[str, list[str]]:
    return multidict_parameters(request.query.items())


def _take_format(parameters: dict[str, list[str]], allowed: tuple[str, ...]) -> str:
    values = parameters.pop("format", ["json"])
    if len(values) != 1 or values[0] not in allowed:
        raise ApiError(422, "invalid parameter", "format", f"one of {', '.join(allowed)}")
    return values[0]


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid body", "body", "expected a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid body", "body", "expected a JSON object")
    return body


# -- reads -----------------------------------------------------------------------------------
async def list_emails(request: web.Request) -> web.StreamResponse:
    principal = _require(request, Permission.view)
    parameters = _parameters(request)
    fmt = _take_format(parameters, ("json", *export.EXPORT_FORMATS))
    if fmt != "json":
        return await _export_emails(request, principal, parameters, fmt)
    query = email_query(principal.tenant_id, parameters)
    page = await _read(request, request.app[STORE].emails, query)
    return web.json_response({"emails": [summary_json(e) for e in page.emails], "next_cursor": page.next_cursor})


async def _export_emails(request: web.Request, principal: Principal, parameters: dict[str, list[str]],
                         fmt: str) -> web.StreamResponse:
    """Every matching copy, page by page (keyset, so memory stays flat), streamed: no row cap."""
    _require(request, Permission.export)
    for paging in ("limit", "cursor"):
        if paging in parameters:
            raise ApiError(422, "invalid parameter", paging, "an export has no pages; leave it out")
    query = email_query(principal.tenant_id, parameters)
    request.app[AUDIT].record(actor=principal.user, tenant_id=principal.tenant_id, action="export.emails",
                              reason=request.headers.get("X-Reason", ""), format=fmt, filter=parameters)
    pages = export.email_pages(request.app[STORE], query)
    response = _download(fmt, "emails")
    await response.prepare(request)
    await response.write(export.email_header(fmt).encode())
    while (emails := await _read(request, next, pages, None)) is not None:
        await response.write(export.email_chunk(emails, fmt).encode())
    await response.write_eof()
    return response


def _download(fmt: str, name: str) -> web.StreamResponse:
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = web.StreamResponse(headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
    response.content_type = content_type
    response.charset = "utf-8"
    return response


async def message_details(request: web.Request) -> web.Response:
    principal = _require(request, Permission.view)
    network_message_id = request.match_info["network_message_id"].lower()
    copies = await _read(request, request.app[STORE].email_details, principal.tenant_id, network_message_id)
    if not copies:
        raise ApiError(404, "not found", "network_message_id", "no email with this id in your tenant")
    similar = await _read(request, request.app[STORE].similar, principal.tenant_id, network_message_id,
                          SIMILAR_EMAILS)
    return web.json_response({"network_message_id": network_message_id, "copies": [copy_json(c) for c in copies],
                              "similar": [summary_json(e) for e in similar]})


async def copy_details(request: web.Request) -> web.Response:
    principal = _require(request, Permission.view)
    network_message_id = request.match_info["network_message_id"].lower()
    recipient = request.match_info["recipient"].lower()
    copies = await _read(request, request.app[STORE].email_details, principal.tenant_id, network_message_id,
                         recipient)
    if not copies:
        raise ApiError(404, "not found", "recipient", "no copy of this email for this recipient in your tenant")
    similar = await _read(request, request.app[STORE].similar, principal.tenant_id, network_message_id,
                          SIMILAR_EMAILS)
    return web.json_response({"email": copy_json(copies[0]), "similar": [summary_json(e) for e in similar]})


async def message_timeline(request: web.Request) -> web.StreamResponse:
    principal = _require(request, Permission.view)
    parameters = _parameters(request)
    fmt = _take_format(parameters, ("json", "csv"))
    recipient = parameters.pop("recipient", [""])
    if len(recipient) != 1:
        raise ApiError(422, "invalid parameter", "recipient", "give it once")
    if parameters:
        raise ApiError(422, "invalid parameter", next(iter(parameters)), "unknown parameter; known: format, recipient")
    network_message_id = request.match_info["network_message_id"].lower()
    recipient = recipient[0].strip().lower()
    if fmt == "csv":
        _require(request, Permission.export)
    entries = await _read(request, request.app[STORE].timeline, network_message_id, principal.tenant_id, recipient)
    if not entries:
        raise ApiError(404, "not found", "network_message_id", "no events of this email in your tenant")
    if fmt == "json":
        return web.json_response({"network_message_id": network_message_id,
                                  "events": [timeline_json(e) for e in entries]})
    request.app[AUDIT].record(actor=principal.user, tenant_id=principal.tenant_id, action="export.timeline",
                              reason=request.headers.get("X-Reason", ""), network_message_id=network_message_id,
                              recipient=recipient)
    copies = await _read(request, request.app[STORE].email_details, principal.tenant_id, network_message_id,
                         recipient or None)
    response = _download("csv", f"timeline-{network_message_id}")
    await response.prepare(request)
    for chunk in export.timeline_chunks(entries, export.message_of(copies), "csv"):
        await response.write(chunk.encode())
    await response.write_eof()
    return response


async def email_chart(request: web.Request) -> web.Response:
    principal = _require(request, Permission.view)
    parameters = _parameters(request)
    chart = chart_request(parameters)
    query = email_query(principal.tenant_id, parameters, paging=False)
    points = await _read(request, request.app[STORE].chart, query, chart.pivot, chart.interval)
    return web.json_response(chart_json(points, chart.pivot, chart.interval))


async def whoami(request: web.Request) -> web.Response:
    principal: Principal = _require(request, Permission.view)
    return web.json_response({"user": principal.user, "tenant_id": principal.tenant_id, "role": str(principal.role),
                              "permissions": principal.permissions})


# -- remediation -----------------------------------------------------------------------------
def _remediations(request: web.Request) -> Remediations:
    flow = request.app[REMEDIATIONS]
    if flow is None:
        raise ApiError(503, "remediation unavailable", None,
                       "this server runs without the remediation flow; start it with `inboxtrail run`")
    return flow


def _remediation_request(principal: Principal, body: dict) -> RemediationRequest:
    """A request from `{"action", "reason", "targets": [{network_message_id, recipient}]}` or
    `{"action", "reason", "filter": {<list filter parameters>}}`."""
    unknown = set(body) - {"action", "reason", "targets", "filter"}
    if unknown:
        raise ApiError(422, "invalid parameter", sorted(unknown)[0], "known: action, reason, targets, filter")
    action = body.get("action")
    if action not in ACTIONS:
        raise ApiError(422, "invalid parameter", "action", f"one of {', '.join(ACTIONS)}")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise ApiError(422, "invalid parameter", "reason",
                       f"say why (a non-empty string of at most {MAX_REASON_CHARS} characters); it is audited")
    if ("targets" in body) == ("filter" in body):
        raise ApiError(422, "invalid parameter", "targets", "give either targets (selected copies) or filter")
    targets: tuple[CopyTarget, ...] | EmailQuery
    if "targets" in body:
        targets = _copy_targets(body["targets"])
    else:
        parameters = json_filter_parameters(body["filter"])
        targets = email_query(principal.tenant_id, parameters, paging=False, limit=MAX_PAGE_SIZE)
    return RemediationRequest(request_id=str(uuid.uuid4()), tenant_id=principal.tenant_id,
                              action=AdminActionKind(action), targets=targets, requester=principal.user,
                              reason=reason.strip())


def _copy_targets(raw: object) -> tuple[CopyTarget, ...]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "invalid parameter", "targets", "a non-empty list of {network_message_id, recipient}")
    if len(raw) > MAX_SELECTED_COPIES:
        raise ApiError(422, "invalid parameter", "targets",
                       f"at most {MAX_SELECTED_COPIES} selected copies; use a filter for more")
    targets = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"network_message_id", "recipient"} \
                or not all(isinstance(v, str) and v.strip() and len(v) <= 1000 for v in item.values()):
            raise ApiError(422, "invalid parameter", f"targets[{index}]",
                           "expected {\"network_message_id\": string, \"recipient\": string}")
        targets.append(CopyTarget(item["network_message_id"].strip().lower(), item["recipient"].strip().lower()))
    return tuple(dict.fromkeys(targets))


def _audit_targets(request: RemediationRequest) -> dict:
    if isinstance(request.targets, EmailQuery):
        query = request.targets
        return {"filter": {"any_of": dict(query.any_of), "none_of": dict(query.none_of),
                           "subject_contains": query.subject_contains, "received_from_us": query.received_from_us,
                           "received_to_us": query.received_to_us, "size_min": query.size_min,
                           "size_max": query.size_max}}
    return {"copies": len(request.targets)}


async def create_remediation(request: web.Request) -> web.Response:
    principal = _require(request, Permission.act)
    remediation = _remediation_request(principal, await _json_body(request))
    status = await _remediations(request).submit(remediation)
    request.app[AUDIT].record(actor=principal.user, tenant_id=principal.tenant_id, action="remediation.request",
                              reason=remediation.reason, request_id=remediation.request_id,
                              remediation=str(remediation.action), state=str(status.state),
                              **_audit_targets(remediation))
    return web.json_response(status_json(status), status=202,
                             headers={"Location": f"{API_PREFIX}/remediations/{status.request_id}"})


async def preview_remediation(request: web.Request) -> web.Response:
    principal = _require(request, Permission.preview)
    remediation = _remediation_request(principal, await _json_body(request))
    plans = await _remediations(request).preview(remediation)
    return web.json_response({"action": str(remediation.action), "copies": [plan_json(p) for p in plans]})


async def list_remediations(request: web.Request) -> web.Response:
    principal = _require(request, Permission.view)
    statuses = await _remediations(request).list(principal.tenant_id)
    return web.json_response({"remediations": [status_json(s) for s in statuses]})


async def _status_of_tenant(request: web.Request, principal: Principal):
    request_id = request.match_info["request_id"]
    status = await _remediations(request).status(principal.tenant_id, request_id)
    if status is None:
        raise ApiError(404, "not found", "request_id", "no remediation request with this id in your tenant")
    return status


async def remediation_status(request: web.Request) -> web.Response:
    principal = _require(request, Permission.view)
    return web.json_response(status_json(await _status_of_tenant(request, principal)))


async def approve_remediation(request: web.Request) -> web.Response:
    principal = _require(request, Permission.approve)
    body = await _json_body(request) if request.can_read_body else {}
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise ApiError(422, "invalid parameter", "reason", f"a string of at most {MAX_REASON_CHARS} characters")
    status = await _status_of_tenant(request, principal)
    if status.state != RequestState.Proposed:
        raise ApiError(409, "approval refused", "request_id", f"the request is {status.state}, not Proposed")
    if status.requester == principal.user:
        raise ApiError(409, "approval refused", "request_id",
                       "two-person rule: a request must be approved by someone other than its requester")
    try:
        status = await _remediations(request).approve(status.request_id, principal.user)
    except ApprovalRefused as exc:
        raise ApiError(409, "approval refused", "request_id", str(exc)) from None
    request.app[AUDIT].record(actor=principal.user, tenant_id=principal.tenant_id, action="remediation.approve",
                              reason=reason, request_id=status.request_id, requester=status.requester,
                              state=str(status.state))
    return web.json_response(status_json(status))


# -- operations --------------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers a query of email_state (reachable and migrated)."""
    probe = EmailQuery(tenant_id="-", limit=1)
    try:
        await asyncio.wait_for(_read(request, request.app[STORE].emails, probe), timeout=5)
    except Exception as exc:  # any failure means "not ready"; the reason goes to the caller and the log
        log.warning("store not ready: %s", exc)
        return web.json_response({"status": "unavailable", "store": request.app[STORE].name,
                                  "detail": f"{type(exc).__name__}: {exc}"[:300]}, status=503)
    return web.json_response({"status": "ready", "store": request.app[STORE].name})


async def prometheus_metrics(request: web.Request) -> web.Response:
    body, content_type = metrics.render_latest()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


async def explorer_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def create_api(settings: Settings, store: ProjectionStore, remediations: Remediations | None, tokens: TokenStore,
               audit: AuditLog | None = None) -> web.Application:
    """The API and the page. `remediations` None: remediation endpoints answer 503 (reads work)."""
    app = web.Application(middlewares=[count_requests, json_errors, authenticate], client_max_size=8 * 2**20)
    app[STORE] = store
    app[REMEDIATIONS] = remediations
    app[TOKENS] = tokens
    app[AUDIT] = audit or AuditLog.in_state_dir(settings.state_dir)
    app[STORE_THREAD] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inboxtrail-store")

    async def stop_store_thread(app: web.Application) -> None:
        app[STORE_THREAD].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(stop_store_thread)
    app.router.add_get(f"{API_PREFIX}/me", whoami)
    app.router.add_get(f"{API_PREFIX}/emails", list_emails)
    app.router.add_get(f"{API_PREFIX}/emails/{{network_message_id}}", message_details)
    # before the copy route: a recipient is an address, never the word `timeline`
    app.router.add_get(f"{API_PREFIX}/emails/{{network_message_id}}/timeline", message_timeline)
    app.router.add_get(f"{API_PREFIX}/emails/{{network_message_id}}/{{recipient}}", copy_details)
    app.router.add_get(f"{API_PREFIX}/chart", email_chart)
    app.router.add_post(f"{API_PREFIX}/remediations", create_remediation)
    app.router.add_get(f"{API_PREFIX}/remediations", list_remediations)
    app.router.add_post(f"{API_PREFIX}/remediations/preview", preview_remediation)
    app.router.add_get(f"{API_PREFIX}/remediations/{{request_id}}", remediation_status)
    app.router.add_post(f"{API_PREFIX}/remediations/{{request_id}}/approve", approve_remediation)
    app.router.add_get("/openapi.json", openapi_document)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus_metrics)
    app.router.add_get("/", explorer_page)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
    return app


def serve(settings: Settings, store: ProjectionStore, remediations: Remediations | None,
          print_line: Callable[[str], None] = print) -> None:
    """Serve the Explorer on settings.api_host:api_port until interrupted."""
    tokens = TokenStore.in_state_dir(settings.state_dir)
    if not tokens.records():
        print_line("no API tokens yet: create one with `inboxtrail tokens create --user U --tenant T --role R`")
    app = create_api(settings, store, remediations, tokens)
    print_line(f"Explorer at http://{settings.api_host}:{settings.api_port}/ (store: {store.name})")
    web.run_app(app, host=settings.api_host, port=settings.api_port, access_log=None, print=None)
