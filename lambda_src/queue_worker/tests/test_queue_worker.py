"""The queue worker against the SQS event JSON Lambda really sends (the
documented structure, in events/sqs_batch.json): five records in one batch,
an application message, a raw S3 event, an S3 event inside an SNS envelope,
a body that is not JSON, and the test event S3 sends when a notification is
configured.

Not shown here: that Lambda honours batchItemFailures and that SQS moves a
message to the DLQ after maxReceiveCount receives; the template wires that
(tests/templates/test_messaging.py), only real Lambda and SQS run it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Loaded by path under its own name: other functions in lambda_src/ have a
# handler.py too, and a plain `import handler` would return whichever came first.
_spec = importlib.util.spec_from_file_location("queue_worker_handler", HERE.parent / "handler.py")
handler = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = handler  # dataclasses look their module up there
_spec.loader.exec_module(handler)

ORDER, RAW_S3, ENVELOPED_S3, NOT_JSON, S3_TEST = (
    "059f36b4-87a3-44ab-83d2-661975830a7d",
    "2e1424d4-f796-459a-8184-9c92662be6da",
    "7b1a2c3d-9e8f-4a5b-8c7d-6e5f4a3b2c1d",
    "d9a8b7c6-5e4f-4d3c-9b2a-1f0e9d8c7b6a",
    "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
)


@pytest.fixture
def batch() -> dict:
    return json.loads((HERE / "events" / "sqs_batch.json").read_text())


@pytest.fixture
def processed(monkeypatch) -> list:
    """Every message handed to process_message, in order (the real one only logs)."""
    seen: list = []
    original = handler.process_message

    def record(message):
        seen.append(message)
        original(message)

    monkeypatch.setattr(handler, "process_message", record)
    return seen


def test_the_unparseable_body_is_reported_by_its_id_and_the_rest_succeed(batch, processed):
    assert handler.handler(batch, None) == {"batchItemFailures": [{"itemIdentifier": NOT_JSON}]}
    assert [m.message_id for m in processed] == [ORDER, RAW_S3, ENVELOPED_S3]


def test_application_message_is_passed_parsed(batch, processed):
    handler.handler(batch, None)
    order = processed[0]
    assert (order.source, order.body) == ("sqs", {"order_id": 42, "action": "ship"})


def test_s3_events_are_unwrapped_with_decoded_keys_whether_raw_or_in_an_sns_envelope(batch, processed):
    handler.handler(batch, None)
    raw, enveloped = processed[1], processed[2]
    assert raw.source == enveloped.source == "s3"
    assert raw.body == {
        "event": "ObjectCreated:Put", "bucket": "strata-dev-uploads-123456789012-eu-west-1",
        "key": "uploads/quarterly report 2024.csv", "size": 1024, "version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
    }
    assert enveloped.body["key"] == "invoices/2024/june report.pdf"


def test_a_message_the_team_logic_rejects_is_reported_without_failing_the_batch(batch, monkeypatch):
    def reject_orders(message):
        if message.source == "sqs":
            raise RuntimeError("order service unavailable")

    monkeypatch.setattr(handler, "process_message", reject_orders)
    failed = [f["itemIdentifier"] for f in handler.handler(batch, None)["batchItemFailures"]]
    assert failed == [ORDER, NOT_JSON]


def test_sns_envelope_with_a_message_that_is_not_json_is_reported(batch, processed):
    record = next(r for r in batch["Records"] if r["messageId"] == ENVELOPED_S3)
    envelope = json.loads(record["body"])
    envelope["Message"] = "plain text alert"
    record["body"] = json.dumps(envelope)
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": [{"itemIdentifier": ENVELOPED_S3}]}
    assert processed == []


def test_sns_envelope_with_an_application_message_keeps_source_sns(batch, processed):
    record = copy.deepcopy(next(r for r in batch["Records"] if r["messageId"] == ENVELOPED_S3))
    envelope = json.loads(record["body"])
    envelope["Message"] = json.dumps({"order_id": 7})
    record["body"] = json.dumps(envelope)
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert [(m.source, m.body) for m in processed] == [("sns", {"order_id": 7})]


def test_s3_test_event_is_acknowledged_and_not_processed(batch, processed):
    record = next(r for r in batch["Records"] if r["messageId"] == S3_TEST)
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": []}
    assert processed == []


def test_one_failing_object_of_a_multi_object_s3_event_fails_its_whole_message(batch, monkeypatch):
    record = next(r for r in batch["Records"] if r["messageId"] == RAW_S3)
    event = json.loads(record["body"])
    second = copy.deepcopy(event["Records"][0])
    second["s3"]["object"]["key"] = "uploads/corrupt.csv"
    event["Records"].append(second)
    record["body"] = json.dumps(event)

    def reject_corrupt(message):
        if message.body["key"].endswith("corrupt.csv"):
            raise ValueError("corrupt file")

    monkeypatch.setattr(handler, "process_message", reject_corrupt)
    assert handler.handler({"Records": [record]}, None) == {"batchItemFailures": [{"itemIdentifier": RAW_S3}]}


def test_an_empty_batch_reports_nothing():
    assert handler.handler({"Records": []}, None) == {"batchItemFailures": []}
