"""Validate a stream of Kubernetes manifests (kubectl kustomize's output) on stdin.

Built-in kinds: kubernetes-validate, strict (unknown fields are errors), against Kubernetes'
own OpenAPI schemas. Custom resources (KEDA's ScaledObject, the Prometheus Operator's
ServiceMonitor): the validators generated from their CRD schemas (npm @kubernetes-models/*),
run by validate-crds.mjs. Prints one line per resource; exits 1 if any is invalid or of a kind
nothing here can check.

    kubectl kustomize DIR | python validate.py KUBERNETES_VERSION
"""

import json
import os
import subprocess
import sys

import kubernetes_validate
import yaml

CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}


def main():
    version = sys.argv[1]
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    failed = False
    custom = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM:
            custom.append(doc)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            print(f"ok {name}")
        except Exception as e:  # every failure of the library names what is wrong
            failed = True
            print(f"INVALID {name}: {getattr(e, 'message', e)}")
    if custom:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate-crds.mjs")
        run = subprocess.run(["node", script], input=json.dumps(custom), text=True,
                             capture_output=True, env=dict(os.environ, NODE_PATH=os.environ["SLUICE_CRD_MODULES"]))
        sys.stdout.write(run.stdout)
        sys.stdout.write(run.stderr)
        failed = failed or run.returncode != 0
    if not docs:
        print("INVALID: no resources")
        failed = True
    sys.exit(1 if failed else 0)


main()
