"""The OpenAPI 3 document of the Explorer API, served at `/openapi.json`.

Built from the same tables the handlers parse with (`projections.queries` facets, sorts, pivots;
`explorer.email_filters` parameter names; `explorer.resources` field names), so the document
cannot drift from what the server accepts.
"""
from __future__ import annotations

from functools import cache

from explorer.email_filters import DEFAULT_LIMIT, EXCLUDE_PREFIX
from explorer.remediation_api import RequestState
from explorer.resources import SUMMARY_FIELDS, TIMELINE_CSV_FIELDS
from projections.queries import FACETS, INTERVALS, MAX_PAGE_SIZE, PIVOTS, SORTS
from schemas.events import ActionResult, AdminActionKind, DeliveryLocation

VERSION = "1.0.0"
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_ACTIONS = [kind.value for kind in AdminActionKind if kind != AdminActionKind.Unknown]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _facet_schema(facet) -> dict:
    item = {"type": "string", "maxLength": 4096}
    if facet.symbols is not None:
        item = {"type": "string", "enum": sorted(facet.symbols)}
    return {"type": "array", "items": item, "maxItems": 1000}


def _query(name: str, schema: dict, description: str) -> dict:
    parameter = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    if schema.get("type") == "array":
        parameter.update(style="form", explode=True)
    return parameter


def _filter_parameters() -> list[dict]:
    parameters = []
    for name, facet in FACETS.items():
        many = " (any of its values)" if facet.multi_valued else ""
        parameters.append(_query(name, _facet_schema(facet), f"Copies whose {name}{many} is one of these."))
    for name, facet in FACETS.items():
        parameters.append(_query(EXCLUDE_PREFIX + name, _facet_schema(facet),
                                 f"Copies whose {name} is none of these."))
    parameters += [
        _query("subject", {"type": "string", "maxLength": 4096}, "Subject contains this (case-insensitive)."),
        _query("received_from", {"type": "string", "format": "date-time"}, "Received at or after (RFC 3339)."),
        _query("received_to", {"type": "string", "format": "date-time"}, "Received before (RFC 3339)."),
        _query("size_min", {"type": "integer", "minimum": 0}, "Size in bytes at least."),
        _query("size_max", {"type": "integer", "minimum": 0}, "Size in bytes at most."),
    ]
    return parameters


def _paging_parameters() -> list[dict]:
    return [
        _query("sort", {"type": "string", "enum": list(SORTS), "default": "received_at"}, "Sort key."),
        _query("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}, "Sort direction."),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_LIMIT},
               "Copies per page."),
        _query("cursor", {"type": "string"}, "`next_cursor` of the previous page, with the same filters and sort."),
    ]


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": description}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "422": {"$ref": "#/components/responses/Invalid"},
}
_NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}
_NETWORK_MESSAGE_ID = _path("network_message_id", "The email's network message id.")


def _remediation_body() -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref("RemediationCreate")}}}


@cache
def document() -> dict:
    email_summary = {"type": "object", "properties": {name: {} for name in SUMMARY_FIELDS}}
    status = {"type": "object", "required": ["request_id", "action", "state", "counts", "requester"], "properties": {
        "request_id": {"type": "string"}, "action": {"type": "string", "enum": _ACTIONS},
        "state": {"type": "string", "enum": [s.value for s in RequestState]},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                   "description": "Copies per result: " + ", ".join(r.value for r in ActionResult)},
        "target_count": {"type": "integer", "nullable": True}, "requester": {"type": "string"},
        "approver": {"type": "string", "nullable": True}, "created_at": {"type": "string", "format": "date-time"},
        "reason": {"type": "string"}, "detail": {"type": "string"}}}
    filter_object = {"type": "object", "description": "The email list's filter parameters as an object: "
                     "each value a string or a list of strings (sizes may be integers).",
                     "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "integer"}, _STRING_LIST]}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "inboxtrail Explorer API", "version": VERSION,
                 "description": "Threat Explorer for mail flow: find email copies, see where they are now and "
                                "what happened to them, and remediate. Every call is scoped to the tenant of "
                                "the bearer token."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/me": {"get": {"summary": "The caller: user, tenant, role and permissions",
                                   "operationId": "whoami", "responses": {
                                       "200": _json(_ref("Principal"), "The caller."), **_ERRORS}}},
            "/api/v1/emails": {"get": {
                "summary": "Email copies matching the filters, one page (keyset paging); or, with "
                           "format=csv|jsonl, every matching copy streamed (needs investigator)",
                "operationId": "listEmails",
                "parameters": _filter_parameters() + _paging_parameters() + [
                    _query("format", {"type": "string", "enum": ["json", "csv", "jsonl"], "default": "json"},
                           "json: one page; csv / jsonl: export of all matches (no cap).")],
                "responses": {"200": {"description": "A page of copies, or the export.", "content": {
                    "application/json": {"schema": _ref("EmailPage")},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}}}}, **_ERRORS}}},
            "/api/v1/emails/{network_message_id}": {"get": {
                "summary": "Every copy of an email (one per recipient), with similar emails",
                "operationId": "getMessage", "parameters": [_NETWORK_MESSAGE_ID],
                "responses": {"200": _json(_ref("Message"), "The copies."), **_ERRORS, **_NOT_FOUND}}},
            "/api/v1/emails/{network_message_id}/timeline": {"get": {
                "summary": "The email's events in order (all copies, or one recipient's); format=csv exports "
                           "them with subject, sender, recipient and message ids (needs investigator)",
                "operationId": "getTimeline",
                "parameters": [_NETWORK_MESSAGE_ID,
                               _query("recipient", {"type": "string"}, "Only this recipient's copy."),
                               _query("format", {"type": "string", "enum": ["json", "csv"], "default": "json"},
                                      "json or csv.")],
                "responses": {"200": {"description": "The timeline.", "content": {
                    "application/json": {"schema": _ref("Timeline")},
                    "text/csv": {"schema": {"type": "string"},
                                 "example": ",".join(TIMELINE_CSV_FIELDS)}}}, **_ERRORS, **_NOT_FOUND}}},
            "/api/v1/emails/{network_message_id}/{recipient}": {"get": {
                "summary": "One copy: delivery and email details, URLs, attachments, original and latest "
                           "location, additional actions; with similar emails",
                "operationId": "getCopy",
                "parameters": [_NETWORK_MESSAGE_ID, _path("recipient", "The recipient's address.")],
                "responses": {"200": _json(_ref("CopyDetails"), "The copy."), **_ERRORS, **_NOT_FOUND}}},
            "/api/v1/chart": {"get": {
                "summary": "Copies per received-time bucket and pivot value (the chart)",
                "operationId": "getChart",
                "parameters": [
                    _query("pivot", {"type": "string", "enum": list(PIVOTS), "default": "delivery_action"},
                           "What to count by."),
                    _query("interval", {"type": "string", "enum": list(INTERVALS), "default": "day"},
                           "Bucket width."),
                ] + _filter_parameters(),
                "responses": {"200": _json(_ref("Chart"), "Series per pivot value."), **_ERRORS}}},
            "/api/v1/remediations": {
                "get": {"summary": "The tenant's remediation requests", "operationId": "listRemediations",
                        "responses": {"200": _json({"type": "object", "properties": {
                            "remediations": {"type": "array", "items": _ref("RemediationStatus")}}},
                            "Requests, newest first."), **_ERRORS}},
                "post": {"summary": "Request an action on selected copies or on every copy a filter matches "
                                    "(needs remediator); over the approval threshold it stays Proposed until "
                                    "another user approves", "operationId": "createRemediation",
                         "requestBody": _remediation_body(),
                         "responses": {"202": _json(_ref("RemediationStatus"), "Accepted (Queued or Proposed)."),
                                       "400": {"$ref": "#/components/responses/BadBody"}, **_ERRORS}}},
            "/api/v1/remediations/preview": {"post": {
                "summary": "What the action would do to each copy, without acting (needs investigator)",
                "operationId": "previewRemediation", "requestBody": _remediation_body(),
                "responses": {"200": _json({"type": "object", "properties": {
                    "action": {"type": "string"}, "copies": {"type": "array", "items": _ref("CopyPlan")}}},
                    "The per-copy plan."), "400": {"$ref": "#/components/responses/BadBody"}, **_ERRORS}}},
            "/api/v1/remediations/{request_id}": {"get": {
                "summary": "A request's state and per-result counts", "operationId": "getRemediation",
                "parameters": [_path("request_id", "The request id.")],
                "responses": {"200": _json(_ref("RemediationStatus"), "The request."), **_ERRORS, **_NOT_FOUND}}},
            "/api/v1/remediations/{request_id}/approve": {"post": {
                "summary": "Approve a Proposed request (needs admin; not its requester)",
                "operationId": "approveRemediation", "parameters": [_path("request_id", "The request id.")],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 2000}}}}}},
                "responses": {"200": _json(_ref("RemediationStatus"), "Approved (Queued)."),
                              "409": {"$ref": "#/components/responses/Conflict"},
                              "400": {"$ref": "#/components/responses/BadBody"}, **_ERRORS, **_NOT_FOUND}}},
            "/healthz": {"get": {"summary": "The process is up", "operationId": "healthz", "security": [],
                                 "responses": {"200": _json({"type": "object"}, "Up.")}}},
            "/readyz": {"get": {"summary": "The store answers queries", "operationId": "readyz", "security": [],
                                "responses": {"200": _json({"type": "object"}, "Ready."),
                                              "503": _json({"type": "object"}, "Store unreachable.")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics", "security": [],
                                 "responses": {"200": {"description": "Prometheus text format.",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from `inboxtrail tokens create`."}},
            "responses": {
                "Unauthorized": _json(_ref("Error"), "No token, or an unknown or revoked one."),
                "Forbidden": _json(_ref("Error"), "The token's role may not do this."),
                "NotFound": _json(_ref("Error"), "Nothing with this id in the caller's tenant."),
                "Invalid": _json(_ref("Error"), "A parameter the API cannot use; `parameter` names it."),
                "BadBody": _json(_ref("Error"), "The body is not a JSON object."),
                "Conflict": _json(_ref("Error"), "Not allowed in the request's current state."),
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "parameter": {"type": "string", "nullable": True},
                    "detail": {"type": "string"}}},
                "Principal": {"type": "object", "properties": {
                    "user": {"type": "string"}, "tenant_id": {"type": "string"},
                    "role": {"type": "string", "enum": ["reader", "investigator", "remediator", "admin"]},
                    "permissions": _STRING_LIST}},
                "EmailSummary": email_summary,
                "EmailPage": {"type": "object", "required": ["emails"], "properties": {
                    "emails": {"type": "array", "items": _ref("EmailSummary")},
                    "next_cursor": {"type": "string", "nullable": True}}},
                "Copy": {"type": "object", "properties": {
                    "network_message_id": {"type": "string"}, "recipient": {"type": "string"},
                    "latest_location": {"type": "string", "enum": [loc.value for loc in DeliveryLocation]},
                    "original_location": {"type": "string", "enum": [loc.value for loc in DeliveryLocation]},
                    "additional_actions": _STRING_LIST, "urls": {"type": "array"},
                    "attachments": {"type": "array"}}},
                "Message": {"type": "object", "properties": {
                    "network_message_id": {"type": "string"}, "copies": {"type": "array", "items": _ref("Copy")},
                    "similar": {"type": "array", "items": _ref("EmailSummary")}}},
                "CopyDetails": {"type": "object", "properties": {
                    "email": _ref("Copy"), "similar": {"type": "array", "items": _ref("EmailSummary")}}},
                "TimelineEvent": {"type": "object", "properties": {
                    name: {} for name in ("time", "recipient", "source", "type", "action", "result", "to_location",
                                          "threat_types", "detection_methods", "actor", "request_id", "event_id",
                                          "details")}},
                "Timeline": {"type": "object", "properties": {
                    "network_message_id": {"type": "string"},
                    "events": {"type": "array", "items": _ref("TimelineEvent")}}},
                "Chart": {"type": "object", "properties": {
                    "pivot": {"type": "string"}, "interval": {"type": "string"},
                    "series": {"type": "array", "items": {"type": "object", "properties": {
                        "value": {"type": "string"}, "total": {"type": "integer"},
                        "points": {"type": "array", "items": {"type": "object", "properties": {
                            "start": {"type": "string", "format": "date-time"},
                            "emails": {"type": "integer"}}}}}}}}},
                "RemediationCreate": {"type": "object", "required": ["action", "reason"], "properties": {
                    "action": {"type": "string", "enum": _ACTIONS},
                    "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "targets": {"type": "array", "items": {
                        "type": "object", "required": ["network_message_id", "recipient"],
                        "properties": {"network_message_id": {"type": "string"}, "recipient": {"type": "string"}}}},
                    "filter": filter_object},
                    "description": "Give either `targets` (selected copies) or `filter`."},
                "RemediationStatus": status,
                "CopyPlan": {"type": "object", "properties": {
                    "network_message_id": {"type": "string"}, "recipient": {"type": "string"},
                    "latest_location": {"type": "string"}, "destination": {"type": "string"},
                    "planned_result": {"type": "string", "nullable": True,
                                       "description": "Decided from the current state; null: the mailbox is asked"}}},
            },
        },
    }
