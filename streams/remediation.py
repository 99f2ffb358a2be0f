"""The remediation agent: turns each command on `mailflow.commands` into an `AdminAction` event.

It runs in the worker that owns the copy's partition (commands and events are co-partitioned by
network_message_id), so it decides from the copy's folded state in the `copy_state` table:
`projections.remediation_rules.plan_remediation` settles AlreadyInDestination, NotActionable and
NotFound (no state) without touching the mailbox; otherwise the mailbox adapter acts and answers
Success, NotFound or Failed. The result is published to `mailflow.events`, where the fold moves
the copy and the timeline (the audit trail) shows it with its actor and request id.

Redelivery is harmless: the result event's id and time derive from the command, so processing a
command twice publishes the same event twice, which the fold and the store collapse.
"""
from __future__ import annotations

import logging

from projections.remediation_rules import plan_remediation
from schemas.codec import encode
from schemas.commands import RemediationCommand, decode_command
from schemas.events import AdminAction, EventSource, MailFlowEvent
from schemas.validation import ValidationError
from streams import metrics
from streams.dead_letters import DeadLetter, now_rfc3339
from streams.mailbox import Mailbox

log = logging.getLogger("inboxtrail.remediation")

AGENT_NAME = "remediate_copies"


def result_event(command: RemediationCommand, result) -> MailFlowEvent:
    return MailFlowEvent(
        event_id=command.result_event_id, tenant_id=command.tenant_id,
        network_message_id=command.network_message_id, recipient=command.recipient,
        occurred_at=command.requested_at, source=EventSource.Admin,
        payload=AdminAction(action=command.action, actor=command.requester, request_id=command.request_id,
                            result=result, reason=command.reason))


async def decide(command: RemediationCommand, state, mailbox: Mailbox):
    result = plan_remediation(state, command.action)
    if result is None:
        result = await mailbox.apply(state, command.action)
    return result


def register_remediation_agent(app, settings, copy_states, copy_key, mailbox: Mailbox, send_dead_letter) -> None:
    commands_topic = app.topic(settings.commands_topic, key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw", partitions=settings.partitions)

    @app.agent(commands_topic, concurrency=1, name=AGENT_NAME)
    async def remediate(stream):
        async for batch in stream.noack_take(500, within=0.2):
            for kafka_event in batch:
                message = kafka_event.message
                try:
                    command = decode_command(message.value or b"")
                except ValidationError as exc:
                    await send_dead_letter(app, settings, DeadLetter(
                        key=message.key, value=message.value, reason=exc.reason, field=exc.field, detail=str(exc),
                        topic=message.topic, partition=message.partition, offset=message.offset,
                        rejected_at=now_rfc3339()))
                    continue
                # the command's partition is the copy's events partition (co-partitioned topics)
                state = copy_states.load(copy_key(command.tenant_id, command.network_message_id,
                                                  command.recipient), kafka_event)
                result = await decide(command, state, mailbox)
                event = result_event(command, result)
                await app.producer.send_and_wait(settings.events_topic, event.network_message_id.encode(),
                                                 encode(event), None, None, None)
                metrics.count_remediation_copies(str(result))
            for kafka_event in batch:
                await stream.ack(kafka_event)
