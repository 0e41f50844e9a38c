// A Node.js Lambda handler as a team writes one, run unchanged by the official runtime
// interface client (npm aws-lambda-ric) against Sluice's Runtime API. For each SQS record it
// appends `ID REQUEST_ID` to SLUICE_FN_LOG, and it reports a record whose body contains
// `fail-once` as failed the first time (a marker file remembers), through batchItemFailures.
import { appendFileSync, existsSync, writeFileSync } from "node:fs";

export const handler = async (event, context) => {
  const log = process.env.SLUICE_FN_LOG;
  const batchItemFailures = [];
  let lines = "";
  for (const record of event.Records) {
    const marker = `${log}.${record.messageId}.failed`;
    if (record.body.includes("fail-once") && !existsSync(marker)) {
      writeFileSync(marker, "");
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    lines += `${record.messageId} ${context.awsRequestId}\n`;
  }
  appendFileSync(log, lines);
  return { batchItemFailures };
};
