"""Queue worker: takes a batch of SQS messages, hands each one to
`process_message`, and tells Lambda which ones failed.

The event source mapping has ReportBatchItemFailures on, so the returned
`batchItemFailures` list is the contract: the message ids in it go back to
the queue (and, after maxReceiveCount receives, to the dead-letter queue);
every other message of the batch is deleted. One bad message therefore never
makes the good ones run again.

A body may arrive in three shapes, all JSON:
- the message as published (SNS raw delivery on, or sent to the queue directly);
- an SNS envelope {"Type": "Notification", "Message": "<json>", ...} (raw delivery off);
- either of those carrying an S3 event notification {"Records": [{"s3": ...}]},
  which becomes one message per object.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

logger = logging.getLogger()
logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class Message:
    """One unit of work. `source` is "s3" for an object event (then `body`
    holds bucket, key, event, size, version_id), "sns" for a message that
    came through the topic in its envelope, "sqs" for anything else."""

    message_id: str
    source: str
    body: Any
    attributes: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------
# REPLACE THIS FUNCTION with your team's logic. Raise any exception to mark
# the message as failed: it is retried and, after maxReceiveCount attempts,
# lands in the dead-letter queue. SQS delivers at least once, so the same
# message may come twice: make this idempotent (e.g. key on message_id or on
# the S3 object's version_id).
# --------------------------------------------------------------------------
def process_message(message: Message) -> None:
    logger.info(json.dumps({"processed": message.message_id, "source": message.source, "body": message.body}, default=str))


def handler(event: dict, context: Any = None) -> dict:
    failures = []
    for record in event.get("Records", []):
        message_id = record["messageId"]
        try:
            for message in messages_in(record):
                process_message(message)
        except Exception:  # noqa: BLE001 - any failure of one message must not fail the batch
            logger.exception("message %s failed; reported for retry", message_id)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


class UnreadableMessage(ValueError):
    """The body (or the SNS envelope's Message) is not JSON."""


def messages_in(record: dict) -> list[Message]:
    """The messages one SQS record carries, envelopes and S3 events unwrapped."""
    message_id = record["messageId"]
    body = _json(record["body"], "body")
    source = "sqs"
    if _is_sns_envelope(body):
        source = "sns"
        body = _json(body["Message"], "SNS Message")
    if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
        # S3 sends this once when the notification is configured; nothing to do.
        return []
    if _is_s3_event(body):
        return [Message(message_id, "s3", _object(r), {"event_time": r.get("eventTime")}) for r in body["Records"]]
    return [Message(message_id, source, body, dict(record.get("messageAttributes") or {}))]


def _json(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise UnreadableMessage(f"{what} is not a string")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableMessage(f"{what} is not JSON: {exc}") from None


def _is_sns_envelope(body: Any) -> bool:
    return isinstance(body, dict) and body.get("Type") == "Notification" and "TopicArn" in body and "Message" in body


def _is_s3_event(body: Any) -> bool:
    records = body.get("Records") if isinstance(body, dict) else None
    return bool(records) and isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:s3" and "s3" in r for r in records
    )


def _object(record: dict) -> dict:
    s3 = record["s3"]
    obj = s3.get("object", {})
    return {
        "event": record.get("eventName"),
        "bucket": s3["bucket"]["name"],
        # Keys arrive URL-encoded, spaces as '+'.
        "key": unquote_plus(obj["key"]),
        "size": obj.get("size"),
        "version_id": obj.get("versionId"),
    }
