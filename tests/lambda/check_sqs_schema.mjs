// Parses Sluice's real SQS events with the Powertools TypeScript parser's zod schema
// (SqsSchema): it must accept every event, and since zod drops keys it does not know, the
// parsed value must equal the event (no field lost, none changed).
//
//   node check_sqs_schema.mjs DIR      (NODE_PATH: the node_modules with the parser)
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";

const require = createRequire(join(process.env.NODE_PATH, "x.js"));
const { SqsSchema } = require("@aws-lambda-powertools/parser/schemas");

const dir = process.argv[2];
const files = readdirSync(dir).filter((f) => f.startsWith("sqs.") && f.endsWith(".json"));
if (files.length === 0) {
  console.error(`no sqs events in ${dir}`);
  process.exit(1);
}
for (const f of files.sort()) {
  const event = JSON.parse(readFileSync(join(dir, f), "utf8"));
  const records = f.includes(".lambda.") ? event.Records : f.includes(".pipes.") ? event : event.map((e) => e.data);
  const wrapped = { Records: records };
  const parsed = SqsSchema.safeParse(wrapped);
  if (!parsed.success) {
    console.error(`FAIL ${f}: SqsSchema refused it: ${JSON.stringify(parsed.error.issues)}`);
    process.exit(1);
  }
  if (!isDeepStrictEqual(parsed.data, wrapped)) {
    console.error(`FAIL ${f}: SqsSchema changed or dropped fields:\n${JSON.stringify(parsed.data)}\n${JSON.stringify(wrapped)}`);
    process.exit(1);
  }
  console.log(`ok ${f}: ${records.length} records intact through @aws-lambda-powertools/parser SqsSchema`);
}
