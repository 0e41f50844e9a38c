"""A Python Lambda handler as a team writes one, run unchanged by the official runtime
interface client (`python -m awslambdaric py_handler.handler`) against Sluice's Runtime API.

It reads the RabbitMQ event with Powertools' data class and:
- appends `ID REQUEST_ID` per record to the file named by SLUICE_FN_LOG;
- reports each record whose body contains `fail-once` as failed the first time (a marker file
  remembers), through `batchItemFailures`;
- for a record whose body contains `hold-once`, the first time, writes `HOLD PID` and sleeps
  until it is killed (the test kills this worker mid-batch);
- for a record whose body contains `raise-once`, the first time, raises (the runtime client
  reports an invocation error);
- for a record whose body contains `slow-once`, the first time, sleeps past its deadline;
- appends `CTX REQUEST_ID FUNCTION_ARN REMAINING_MS` per invocation (what the context says).
"""

import base64
import os
import time

from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent


def first_time(log, what, message_id):
    marker = f"{log}.{message_id}.{what}"
    if os.path.exists(marker):
        return False
    open(marker, "w").close()
    return True


def handler(event, context):
    log = os.environ["SLUICE_FN_LOG"]
    out = []
    failures = []
    with open(log, "a") as f:
        f.write(f"CTX {context.aws_request_id} {context.invoked_function_arn} {context.get_remaining_time_in_millis()}\n")
    for messages in RabbitMQEvent(event).rmq_messages_by_queue.values():
        for m in messages:
            message_id = m.basic_properties.message_id
            body = base64.b64decode(m.data).decode("utf-8", "replace")
            if "hold-once" in body and first_time(log, "held", message_id):
                with open(log, "a") as f:
                    f.write(f"HOLD {os.getpid()}\n")
                time.sleep(600)
            if "raise-once" in body and first_time(log, "raised", message_id):
                raise ValueError(f"cannot handle {message_id}")
            if "slow-once" in body and first_time(log, "slowed", message_id):
                time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)
            if "fail-once" in body and first_time(log, "failed", message_id):
                failures.append({"itemIdentifier": message_id})
                continue
            out.append(f"{message_id} {context.aws_request_id}\n")
    with open(log, "a") as f:
        f.writelines(out)
    return {"batchItemFailures": failures}
