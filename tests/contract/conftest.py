"""The store contract fixtures: every `projection_store` test runs once per store.

* `clickhouse`: the session's ClickHouse server (fixture `services`, database `inboxtrail_test`).
* `chdb`: one chDB session for the whole pytest session (chDB allows one per process), in a
  temporary directory.
Tests share both stores and isolate themselves by tenant id (fixture `tenant_id`).
"""
from __future__ import annotations

import random
import uuid

import pytest

from projections.delivery import CopyKey, CopyState, fold_copies
from schemas.events import (
    ActionResult,
    AdminActionKind,
    Attachment,
    DeliveryAction,
    DeliveryLocation,
    DetectionMethod,
    EventSource,
    MailFlowEvent,
    Sender,
    ThreatType,
    Url,
)
from tests.fold_scenarios import (
    CAMPAIGN_START,
    HOUR,
    MINUTE,
    CopyEvents,
    admin,
    original_delivery,
    release,
    reprocessed_as_phish,
    seeded_uuids,
    zap,
)


@pytest.fixture(scope="session")
def clickhouse_projection_store(services):
    from projections.server_store import ClickHouseServerStore
    store = ClickHouseServerStore(services)
    store.migrate()
    yield store
    store.close()


@pytest.fixture(scope="session")
def chdb_projection_store(tmp_path_factory):
    from projections.chdb_store import ChdbStore
    store = ChdbStore(tmp_path_factory.mktemp("chdb"))
    store.migrate()
    yield store
    store.close()


@pytest.fixture(params=[pytest.param("clickhouse", marks=pytest.mark.services), "chdb"])
def projection_store(request):
    return request.getfixturevalue(f"{request.param}_projection_store")


SENDERS = (
    Sender("bounce@mailer.example", "it-support@contoso-help.example", "IT Support", "203.0.113.7"),
    Sender("billing@fabrikam.example", "billing@fabrikam.example", "Fabrikam Billing", "198.51.100.20"),
    Sender("news@tailspin.example", "news@tailspin.example", "Tailspin News", "192.0.2.44"),
    Sender("ceo@contoso.com", "ceo@contoso.com", "The CEO", "10.0.0.5"),
)
SUBJECTS = ("Your mailbox is almost full", "Invoice overdue", "Weekly digest", "Urgent: wire transfer")
URLS = (Url("https://contoso-help.example/login", "contoso-help.example"),
        Url("https://fabrikam.example/pay", "fabrikam.example"),
        Url("https://tailspin.example/news?id=1", "tailspin.example"))
ATTACHMENTS = (Attachment("invoice.pdf", "pdf", "a" * 64, 120_000),
               Attachment("payload.docm", "docm", "b" * 64, 48_000),
               Attachment("logo.png", "png", "c" * 64, 4_000))
LANDINGS = ((DeliveryLocation.Inbox, DeliveryAction.Delivered), (DeliveryLocation.Junk, DeliveryAction.Junked),
            (DeliveryLocation.Quarantine, DeliveryAction.Blocked), (DeliveryLocation.OnPremExternal,
                                                                   DeliveryAction.Delivered))


def mail_corpus(tenant_id: str, seed: int = 7, messages: int = 12) -> tuple[list[MailFlowEvent], dict[CopyKey, CopyState]]:
    """A varied tenant: every facet takes several values across copies, some copies have
    post-delivery actions, one copy has no OriginalDelivery yet. Returns the events (in time
    order) and their folded states."""
    rng = random.Random(f"corpus:{tenant_id}:{seed}")
    new_id = seeded_uuids(f"corpus:{tenant_id}:{seed}")
    events: list[MailFlowEvent] = []
    for message in range(messages):
        network_message_id = new_id()
        sender = SENDERS[message % len(SENDERS)]
        location, action = LANDINGS[message % len(LANDINGS)]
        delivery = original_delivery(
            location, action, internet_message_id=f"<m{message}.{seed}@{tenant_id}.example>",
            subject=SUBJECTS[message % len(SUBJECTS)] + ("" if message < 4 else f" #{message}"), sender=sender,
            threat_types=tuple(rng.sample(list(ThreatType)[:4], rng.randrange(3))),
            detection_methods=tuple(rng.sample([DetectionMethod.UrlDetonation, DetectionMethod.SpoofDmarc,
                                                DetectionMethod.IpReputation], rng.randrange(3))),
            urls=tuple(rng.sample(URLS, rng.randrange(3))), attachments=tuple(rng.sample(ATTACHMENTS, rng.randrange(3))),
            size_bytes=1_000 * (message + 1))
        delivered_at = CAMPAIGN_START + message * 7 * HOUR + rng.randrange(MINUTE)
        for index in range(1 + message % 3):
            copy = CopyEvents(tenant_id, network_message_id, f"user{index}@{'partner' if index == 2 else tenant_id}.example",
                              new_id)
            if message == 5 and index == 1:  # a ZAP whose OriginalDelivery has not arrived yet
                events.append(copy.event(delivered_at + HOUR, zap()))
                continue
            events.append(copy.event(delivered_at, delivery))
            match (message + index) % 5:
                case 1:
                    events.append(copy.event(delivered_at + HOUR, reprocessed_as_phish()))
                    events.append(copy.event(delivered_at + HOUR + 5, zap()))
                case 2:
                    events.append(copy.event(delivered_at + 2 * HOUR, admin(AdminActionKind.SoftDelete), EventSource.Admin))
                case 3:
                    events.append(copy.event(delivered_at + HOUR, zap(ActionResult.NotFound)))
                case 4 if location == DeliveryLocation.Quarantine:
                    events.append(copy.event(delivered_at + 3 * HOUR, release(), EventSource.Admin))
    events.sort(key=lambda event: event.order_key)
    return events, fold_copies(events)


@pytest.fixture
def corpus(projection_store, tenant_id):
    """`mail_corpus(tenant_id)` written to the store in one batch: (events, states)."""
    events, states = mail_corpus(tenant_id)
    projection_store.write(events, list(states.values()))
    return events, states


@pytest.fixture
def message_id() -> str:
    return str(uuid.uuid4())
