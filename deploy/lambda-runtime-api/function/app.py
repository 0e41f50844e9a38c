"""The same handler that runs on AWS Lambda for a RabbitMQ event source mapping."""

import base64
import json


def handler(event, context):
    failures = []
    for queue, messages in event["rmqMessagesByQueue"].items():
        for m in messages:
            try:
                order = json.loads(base64.b64decode(m["data"]))
                print(json.dumps({"queue": queue, "order": order.get("id"), "request": context.aws_request_id}))
            except ValueError:
                failures.append({"itemIdentifier": m["basicProperties"]["messageId"]})
    return {"batchItemFailures": failures}
