// Validate custom resources (a JSON array on stdin) with the validators generated from their
// CRDs' OpenAPI schemas. Run by validate.py; SLUICE_CRD_MODULES is the node_modules they are in.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const modules = process.env.SLUICE_CRD_MODULES;
const load = async (path, name) =>
  (await import(pathToFileURL(join(modules, path)).href))[name];
const kinds = {
  "keda.sh/v1alpha1/ScaledObject": [
    "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js",
    "ScaledObject",
  ],
  "monitoring.coreos.com/v1/ServiceMonitor": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
    "ServiceMonitor",
  ],
};

let failed = false;
for (const doc of JSON.parse(readFileSync(0, "utf8"))) {
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const kind = kinds[`${doc.apiVersion}/${doc.kind}`];
  if (!kind) {
    console.log(`INVALID ${name}: no schema for ${doc.apiVersion}`);
    failed = true;
    continue;
  }
  const Model = await load(...kind);
  try {
    new Model(doc).validate();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`INVALID ${name}: ${e.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
