// A handler written against @types/aws-lambda that reads every field of the SQS event, as a
// team's existing TypeScript function does. `tsc --strict --noEmit` type-checks it; the same
// types are what Sluice's events must satisfy (check_sqs_schema.mjs checks the values).
import type { SQSBatchResponse, SQSEvent, SQSHandler, SQSRecord } from "aws-lambda";

function readRecord(r: SQSRecord): string[] {
  const a = r.attributes;
  const fields: (string | undefined)[] = [
    r.messageId,
    r.receiptHandle,
    r.body,
    r.md5OfBody,
    r.md5OfMessageAttributes,
    r.eventSource,
    r.eventSourceARN,
    r.awsRegion,
    a.ApproximateReceiveCount,
    a.SentTimestamp,
    a.SenderId,
    a.ApproximateFirstReceiveTimestamp,
    a.SequenceNumber,
    a.MessageGroupId,
    a.MessageDeduplicationId,
    a.AWSTraceHeader,
    a.DeadLetterQueueSourceArn,
  ];
  for (const [name, v] of Object.entries(r.messageAttributes)) {
    fields.push(name, v.dataType, v.stringValue, v.binaryValue, ...(v.stringListValues ?? []), ...(v.binaryListValues ?? []));
  }
  return fields.filter((f): f is string => f !== undefined);
}

export const handler: SQSHandler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const failed = event.Records.filter((r) => readRecord(r).length === 0);
  return { batchItemFailures: failed.map((r) => ({ itemIdentifier: r.messageId })) };
};
