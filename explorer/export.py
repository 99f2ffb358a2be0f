"""Exports of the email list and of a timeline, shared by the API (`?format=csv|jsonl`) and
`inboxtrail export`: text chunks produced page by page, so memory stays flat and there is no row cap.

The email list is read with keyset paging at the largest page size: each page starts after the
last copy of the previous one, so an export never repeats or skips a copy, whatever is written
meanwhile to copies it already passed.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace

from explorer.resources import (
    SUMMARY_FIELDS,
    TIMELINE_CSV_FIELDS,
    csv_lines,
    summary_csv_row,
    summary_json,
    timeline_csv_row,
    timeline_json,
)
from projections.delivery import CopyState
from projections.queries import MAX_PAGE_SIZE, EmailQuery, EmailSummary
from projections.store import ProjectionStore
from projections.timeline import TimelineEntry

EXPORT_FORMATS = ("csv", "jsonl")
TIMELINE_ROWS_PER_CHUNK = 1000


def email_pages(store: ProjectionStore, query: EmailQuery) -> Iterator[list[EmailSummary]]:
    """Every copy `query` matches, one page of at most MAX_PAGE_SIZE at a time (`query`'s own
    limit and cursor are ignored)."""
    query = replace(query, limit=MAX_PAGE_SIZE, cursor=None)
    while True:
        page = store.emails(query)
        yield page.emails
        if page.next_cursor is None:
            return
        query = replace(query, cursor=page.next_cursor)


def email_header(fmt: str) -> str:
    return csv_lines([SUMMARY_FIELDS]) if fmt == "csv" else ""


def email_chunk(emails: Sequence[EmailSummary], fmt: str) -> str:
    if fmt == "csv":
        return csv_lines(summary_csv_row(email) for email in emails)
    return "".join(json.dumps(summary_json(email)) + "\n" for email in emails)


def message_of(copies: Sequence[CopyState]) -> CopyState | None:
    """The copy whose facts (subject, sender, internet message id) stand for the message: any copy
    with an OriginalDelivery has them, and they are the same in every copy."""
    return next((c for c in copies if c.received_at is not None), copies[0] if copies else None)


def timeline_chunks(entries: Sequence[TimelineEntry], message: CopyState | None, fmt: str) -> Iterator[str]:
    if fmt == "csv":
        yield csv_lines([TIMELINE_CSV_FIELDS])
    for start in range(0, len(entries), TIMELINE_ROWS_PER_CHUNK):
        chunk = entries[start:start + TIMELINE_ROWS_PER_CHUNK]
        if fmt == "csv":
            yield csv_lines(timeline_csv_row(entry, message) for entry in chunk)
        else:
            yield "".join(json.dumps(timeline_json(entry)) + "\n" for entry in chunk)
