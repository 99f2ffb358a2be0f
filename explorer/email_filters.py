"""The filter language of the Explorer: query-string parameters (API, web page), JSON filters
(remediation requests) and CLI options all map to one `projections.queries.EmailQuery` here.

One source for the parameter names: the API parser, the OpenAPI document and `inboxtrail explore`
options are all derived from `FILTER_PARAMETERS` and the facet tables of `projections.queries`.

* a facet `F` (e.g. `delivery_action`, `sender_domain`, `threat_type`): `F=v`, repeatable; the copy
  matches if its value (any of its values, for multi-valued facets) is one of them;
* `not_F=v`: the copy matches only if none of its values is one of them;
* `subject` (case-insensitive substring), `received_from` / `received_to` (RFC 3339, the range
  `[from, to)`), `size_min` / `size_max` (bytes, inclusive);
* list only: `sort`, `order` (`asc` | `desc`), `limit`, `cursor`.

A value the query cannot use raises `FilterError` naming the parameter as the caller wrote it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from projections.queries import FACETS, INTERVALS, MAX_PAGE_SIZE, PIVOTS, EmailQuery
from schemas.jsonform import parse_timestamp

EXCLUDE_PREFIX = "not_"
RANGE_PARAMETERS = ("subject", "received_from", "received_to", "size_min", "size_max")
PAGING_PARAMETERS = ("sort", "order", "limit", "cursor")
FILTER_PARAMETERS = (*FACETS, *(EXCLUDE_PREFIX + facet for facet in FACETS), *RANGE_PARAMETERS)
DEFAULT_LIMIT = 100

# EmailQuery field → the parameter a caller wrote, to name it in errors
_PARAMETER_OF_FIELD = {"subject_contains": "subject", "received_from_us": "received_from",
                       "received_to_us": "received_to", "descending": "order"}


class FilterError(ValueError):
    """A filter parameter the query cannot use: which one, and why."""

    def __init__(self, parameter: str, detail: str):
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


def parameter_of(message: str) -> tuple[str, str]:
    """(parameter as the caller wrote it, detail) from a `queries` ValueError message, whose
    text starts with the EmailQuery field (`any_of.sender_domain: …`, `limit: …`)."""
    field, _, detail = message.partition(": ")
    if field.startswith("any_of."):
        return field.removeprefix("any_of."), detail
    if field.startswith("none_of."):
        return EXCLUDE_PREFIX + field.removeprefix("none_of."), detail
    return _PARAMETER_OF_FIELD.get(field, field), detail


def _single(parameter: str, values: Sequence[str]) -> str:
    if len(values) != 1:
        raise FilterError(parameter, f"give it once, not {len(values)} times")
    return values[0]


def _integer(parameter: str, values: Sequence[str], low: int = 0, high: int = 2**63 - 1) -> int:
    text = _single(parameter, values)
    try:
        value = int(text)
    except ValueError:
        raise FilterError(parameter, f"{text[:40]!r} is not an integer") from None
    if not low <= value <= high:
        raise FilterError(parameter, f"{value} is outside {low}..{high}")
    return value


def _timestamp(parameter: str, values: Sequence[str]) -> int:
    text = _single(parameter, values)
    try:
        micros = parse_timestamp(text, parameter)
    except (ValueError, OverflowError):
        raise FilterError(parameter, f"{text[:40]!r} is not an RFC 3339 time with a zone, "
                                     "e.g. 2026-12-04T10:15:30Z") from None
    if micros < 0:
        raise FilterError(parameter, "must not be before 1970-01-01T00:00:00Z")
    return micros


def email_query(tenant_id: str, parameters: Mapping[str, Sequence[str]], *, paging: bool = True,
                limit: int | None = None) -> EmailQuery:
    """The query of `tenant_id`'s copies that `parameters` (name → values, as a query string
    holds them) describe. Names outside the filter (and, if `paging`, paging) parameters are
    rejected, so a typo never silently widens a search or a remediation."""
    allowed = set(FILTER_PARAMETERS) | (set(PAGING_PARAMETERS) if paging else set())
    any_of: dict[str, list[str]] = {}
    none_of: dict[str, list[str]] = {}
    fields: dict[str, object] = {}
    for name, values in parameters.items():
        values = list(values)
        if name not in allowed:
            raise FilterError(name, "unknown parameter; filters are the facets "
                                    f"({', '.join(FACETS)}), not_<facet>, {', '.join(RANGE_PARAMETERS)}"
                                    + (f" and {', '.join(PAGING_PARAMETERS)}" if paging else ""))
        if name in FACETS:
            any_of[name] = values
        elif name.startswith(EXCLUDE_PREFIX) and name.removeprefix(EXCLUDE_PREFIX) in FACETS:
            none_of[name.removeprefix(EXCLUDE_PREFIX)] = values
        elif name == "subject":
            fields["subject_contains"] = _single(name, values)
        elif name in ("received_from", "received_to"):
            fields[name + "_us"] = _timestamp(name, values)
        elif name in ("size_min", "size_max"):
            fields[name] = _integer(name, values)
        elif name == "sort":
            fields["sort"] = _single(name, values)
        elif name == "order":
            order = _single(name, values)
            if order not in ("asc", "desc"):
                raise FilterError(name, f"{order[:40]!r} is not one of asc, desc")
            fields["descending"] = order == "desc"
        elif name == "limit":
            fields["limit"] = _integer(name, values, 1, MAX_PAGE_SIZE)
        elif name == "cursor":
            fields["cursor"] = _single(name, values)
    if limit is not None:
        fields["limit"] = limit
    try:
        return EmailQuery(tenant_id=tenant_id, any_of=any_of, none_of=none_of, **fields)
    except ValueError as exc:
        raise FilterError(*parameter_of(str(exc))) from None


def json_filter_parameters(document: object, where: str = "filter") -> dict[str, list[str]]:
    """A JSON filter object (`{"delivery_action": "Delivered", "threat_type": ["Phish"]}`) as
    query parameters; values are strings, lists of strings, or integers for the sizes."""
    if not isinstance(document, Mapping):
        raise FilterError(where, "expected an object of filter parameters")
    parameters: dict[str, list[str]] = {}
    for name, value in document.items():
        values = value if isinstance(value, list) else [value]
        checked = []
        for item in values:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise FilterError(f"{where}.{name}", "expected a string or a list of strings")
            checked.append(str(item))
        parameters[str(name)] = checked
    return parameters


@dataclass(frozen=True, slots=True)
class ChartRequest:
    pivot: str
    interval: str


def chart_request(parameters: Mapping[str, Sequence[str]]) -> ChartRequest:
    """Takes `pivot` and `interval` out of `parameters` (mutated: what is left are filters)."""
    pivot = _single("pivot", parameters.pop("pivot", ["delivery_action"]))
    interval = _single("interval", parameters.pop("interval", ["day"]))
    if pivot not in PIVOTS:
        raise FilterError("pivot", f"{pivot[:40]!r} is not one of {', '.join(PIVOTS)}")
    if interval not in INTERVALS:
        raise FilterError("interval", f"{interval[:40]!r} is not one of {', '.join(INTERVALS)}")
    return ChartRequest(pivot, interval)


def multidict_parameters(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Query-string pairs (repeated names allowed) as name → values, in order."""
    parameters: dict[str, list[str]] = {}
    for name, value in items:
        parameters.setdefault(name, []).append(value)
    return parameters
