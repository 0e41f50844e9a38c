"""Reads events Sluice really sent through AWS's official Python libraries.

    python check_events.py DIR

DIR holds one file per event a test function received, named SOURCE.FORMAT.N.json, where
SOURCE is rmq, mq (either ActiveMQ protocol) or sqs, and FORMAT is lambda, pipes or
cloudevents. For every record, every field Sluice set must come out of the library intact:

- format lambda: Powertools data classes (SQSEvent, ActiveMQEvent, RabbitMQEvent), each
  accessor compared with the JSON it reads; for SQS also the Powertools Pydantic parser model
  (SqsModel), which must accept the event and keep every field.
- format pipes: the bare array of records, each record read by the same data classes.
- format cloudevents: every element parsed by the CloudEvents SDK in structured mode
  (specversion, id, source, type, datacontenttype, data), its data read as above. The SDK
  (2.x) has no batch reader, so the batch array is split and each element read on its own.

Prints one line per file and exits 1 on the first field that does not come out intact.
"""

import json
import os
import sys

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.active_mq_event import ActiveMQEvent
from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent
from aws_lambda_powertools.utilities.parser.models import SqsModel
from cloudevents.core.bindings.http import HTTPMessage, from_http_event

# Accessor -> key, for every field of a record: the accessor must return the JSON value.
SQS_FIELDS = {
    "message_id": "messageId",
    "receipt_handle": "receiptHandle",
    "body": "body",
    "md5_of_body": "md5OfBody",
    "event_source": "eventSource",
    "event_source_arn": "eventSourceARN",
    "aws_region": "awsRegion",
}
SQS_ATTRIBUTES = {
    "approximate_receive_count": "ApproximateReceiveCount",
    "sent_timestamp": "SentTimestamp",
    "sender_id": "SenderId",
    "approximate_first_receive_timestamp": "ApproximateFirstReceiveTimestamp",
    "sequence_number": "SequenceNumber",
    "message_group_id": "MessageGroupId",
    "message_deduplication_id": "MessageDeduplicationId",
    "aws_trace_header": "AWSTraceHeader",
    "dead_letter_queue_source_arn": "DeadLetterQueueSourceArn",
}
MQ_FIELDS = {
    "message_id": "messageID",
    "message_type": "messageType",
    "data": "data",
    "redelivered": "redelivered",
    "timestamp": "timestamp",
    "broker_in_time": "brokerInTime",
    "broker_out_time": "brokerOutTime",
    "properties": "properties",
    "delivery_mode": "deliveryMode",
    "correlation_id": "correlationID",
    "reply_to": "replyTo",
    "get_type": "type",
    "expiration": "expiration",
    "priority": "priority",
}
RMQ_PROPERTIES = {
    "content_type": "contentType",
    "content_encoding": "contentEncoding",
    "headers": "headers",
    "delivery_mode": "deliveryMode",
    "priority": "priority",
    "correlation_id": "correlationId",
    "reply_to": "replyTo",
    "expiration": "expiration",
    "message_id": "messageId",
    "timestamp": "timestamp",
    "get_type": "type",
    "user_id": "userId",
    "app_id": "appId",
    "cluster_id": "clusterId",
    "body_size": "bodySize",
}


class Mismatch(Exception):
    pass


def same(where, got, want):
    if got != want:
        raise Mismatch(f"{where}: the library gives {got!r}, the event has {want!r}")


def covered(where, record, known):
    unknown = set(record) - set(known)
    if unknown:
        raise Mismatch(f"{where}: keys no library accessor reads: {sorted(unknown)}")


def check_sqs_record(where, rec, raw):
    covered(where, raw, list(SQS_FIELDS.values()) + ["attributes", "messageAttributes", "md5OfMessageAttributes"])
    for accessor, key in SQS_FIELDS.items():
        same(f"{where}.{key}", getattr(rec, accessor), raw.get(key))
    # The data class has no accessor for it; handlers read it by key.
    same(f"{where}.md5OfMessageAttributes", rec.get("md5OfMessageAttributes"), raw.get("md5OfMessageAttributes"))
    covered(f"{where}.attributes", raw["attributes"], SQS_ATTRIBUTES.values())
    for accessor, key in SQS_ATTRIBUTES.items():
        same(f"{where}.attributes.{key}", getattr(rec.attributes, accessor), raw["attributes"].get(key))
    for name, attr in raw["messageAttributes"].items():
        got = rec.message_attributes[name]
        same(f"{where}.messageAttributes.{name}.dataType", got.data_type, attr["dataType"])
        # The seeds' events leave out the value key an attribute does not use (a String has no
        # binaryValue); the data class reads by key, so only the keys that are there are read.
        if "stringValue" in attr:
            same(f"{where}.messageAttributes.{name}.stringValue", got.string_value, attr["stringValue"])
        if "binaryValue" in attr:
            same(f"{where}.messageAttributes.{name}.binaryValue", got.binary_value, attr["binaryValue"])


def check_sqs_model(where, event):
    model = SqsModel.model_validate(event)
    for parsed, raw in zip(model.Records, event["Records"]):
        dumped = parsed.model_dump(exclude_none=True)
        missing = {k for k, v in raw.items() if v is not None} - set(dumped)
        if missing:
            raise Mismatch(f"{where}: the Pydantic model dropped {sorted(missing)}")
        for key in ("messageId", "receiptHandle", "body", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"):
            same(f"{where}.{key} (parser)", dumped[key], raw[key])
        attrs = dumped["attributes"]
        for key, value in raw["attributes"].items():
            got = attrs.get(key)
            if hasattr(got, "timestamp"):  # SentTimestamp and friends become datetimes
                got = str(int(round(got.timestamp() * 1000)))
            same(f"{where}.attributes.{key} (parser)", got, value)
        for name, attr in raw["messageAttributes"].items():
            for key, value in attr.items():
                same(f"{where}.messageAttributes.{name}.{key} (parser)", dumped["messageAttributes"][name][key], value)


def check_mq_message(where, msg, raw):
    covered(where, raw, list(MQ_FIELDS.values()) + ["destination"])
    for accessor, key in MQ_FIELDS.items():
        same(f"{where}.{key}", getattr(msg, accessor), raw[key])
    same(f"{where}.destination.physicalName", msg.destination_physicalname, raw["destination"]["physicalName"])
    if not isinstance(raw["expiration"], int) or not isinstance(raw["timestamp"], int):
        raise Mismatch(f"{where}: expiration and timestamp must be numbers")


def check_rmq_message(where, msg, raw):
    covered(where, raw, ["basicProperties", "redelivered", "data"])
    same(f"{where}.data", msg.data, raw["data"])
    same(f"{where}.redelivered", msg.redelivered, raw["redelivered"])
    props = raw["basicProperties"]
    covered(f"{where}.basicProperties", props, RMQ_PROPERTIES.values())
    for accessor, key in RMQ_PROPERTIES.items():
        same(f"{where}.basicProperties.{key}", getattr(msg.basic_properties, accessor), props[key])


def check_lambda(source, where, event):
    if source == "sqs":
        parsed = SQSEvent(event)
        for i, (rec, raw) in enumerate(zip(parsed.records, event["Records"])):
            check_sqs_record(f"{where}.Records[{i}]", rec, raw)
        check_sqs_model(where, event)
        return len(event["Records"])
    if source == "mq":
        parsed = ActiveMQEvent(event)
        same(f"{where}.eventSource", parsed.event_source, "aws:mq")
        same(f"{where}.eventSourceArn", parsed.event_source_arn, event["eventSourceArn"])
        for i, (msg, raw) in enumerate(zip(parsed.messages, event["messages"])):
            check_mq_message(f"{where}.messages[{i}]", msg, raw)
        return len(event["messages"])
    if source == "rmq":
        parsed = RabbitMQEvent(event)
        same(f"{where}.eventSource", parsed.event_source, "aws:rmq")
        same(f"{where}.eventSourceArn", parsed.event_source_arn, event["eventSourceArn"])
        n = 0
        for queue, messages in parsed.rmq_messages_by_queue.items():
            for i, (msg, raw) in enumerate(zip(messages, event["rmqMessagesByQueue"][queue])):
                check_rmq_message(f"{where}.rmqMessagesByQueue[{queue!r}][{i}]", msg, raw)
                n += 1
        return n
    raise Mismatch(f"{where}: unknown source {source}")


def as_lambda_event(source, records, head=None):
    """The Lambda event holding these pipes/cloudevents records (the head keys moved up)."""
    if source == "sqs":
        return {"Records": records}
    head = head or {"eventSource": records[0]["eventSource"], "eventSourceArn": records[0]["eventSourceArn"]}
    stripped = [{k: v for k, v in r.items() if k not in head} for r in records]
    if source == "mq":
        return {**head, "messages": stripped}
    return {**head, "rmqMessagesByQueue": {"queue::/": stripped}}


def check_file(path):
    name = os.path.basename(path)
    source, fmt, _ = name.split(".", 2)
    with open(path, "rb") as f:
        raw = f.read()
    event = json.loads(raw)
    if fmt == "lambda":
        return check_lambda(source, name, event)
    if fmt == "pipes":
        if not isinstance(event, list):
            raise Mismatch(f"{name}: format pipes is a JSON array")
        return check_lambda(source, name, as_lambda_event(source, event))
    if fmt == "cloudevents":
        records = []
        head = {"eventSource": event[0]["type"].removesuffix(".message"), "eventSourceArn": event[0]["source"]}
        for i, element in enumerate(event):
            message = HTTPMessage(
                headers={"content-type": "application/cloudevents+json"},
                body=json.dumps(element).encode(),
            )
            ce = from_http_event(message)
            same(f"{name}[{i}].specversion (CloudEvents SDK)", ce.get_specversion(), element["specversion"])
            same(f"{name}[{i}].id (CloudEvents SDK)", ce.get_id(), element["id"])
            same(f"{name}[{i}].source (CloudEvents SDK)", ce.get_source(), element["source"])
            same(f"{name}[{i}].type (CloudEvents SDK)", ce.get_type(), element["type"])
            same(f"{name}[{i}].datacontenttype (CloudEvents SDK)", ce.get_datacontenttype(), element["datacontenttype"])
            same(f"{name}[{i}].data (CloudEvents SDK)", ce.get_data(), element["data"])
            records.append(ce.get_data())
        return check_lambda(source, name, as_lambda_event(source, records, head))
    raise Mismatch(f"{name}: unknown format {fmt}")


def main():
    folder = sys.argv[1]
    files = sorted(f for f in os.listdir(folder) if f.endswith(".json"))
    if not files:
        print(f"no events in {folder}", file=sys.stderr)
        sys.exit(1)
    for f in files:
        try:
            n = check_file(os.path.join(folder, f))
        except Mismatch as e:
            print(f"FAIL {e}", file=sys.stderr)
            sys.exit(1)
        print(f"ok {f}: {n} records read intact by Powertools data classes"
              + (" and SqsModel" if f.startswith("sqs.") else "")
              + (" after the CloudEvents SDK" if ".cloudevents." in f else ""))


if __name__ == "__main__":
    main()
