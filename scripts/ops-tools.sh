#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs (if missing) what the operations tests check the
# deployment files with, each pinned and private under $SLUICE_RUN_DIR, and exports where they
# are:
#
#   SLUICE_PROMETHEUS           Debian's prometheus: a real server that scrapes a running Sluice
#                               and answers the dashboard's queries
#   SLUICE_PROMTOOL             its promtool: `check rules` and `test rules` on the alert rules
#   SLUICE_KUBERNETES_VALIDATE  kubernetes-validate (PyPI): Kubernetes' own OpenAPI schemas for
#                               the built-in kinds
#   SLUICE_CHROMIUM, SLUICE_CHROMEDRIVER
#                               Debian's chromium and chromium-driver: the console's browser tests
#   SLUICE_CRD_MODULES          node_modules with @kubernetes-models/keda and
#                               @kubernetes-models/prometheus-operator: validators generated from
#                               KEDA's and the Prometheus Operator's CRD schemas (ScaledObject,
#                               ServiceMonitor), pinned here rather than copied into the repository
#
# kubectl (for `kubectl kustomize`) is expected on the machine.

ops_run_dir=${SLUICE_RUN_DIR:-/tmp/sluice-run}
ops_venv=$ops_run_dir/ops-venv
ops_node=$ops_run_dir/ops-node
ops_python_pins=("kubernetes-validate==1.37.0")
ops_node_pins=("@kubernetes-models/keda@2.0.0" "@kubernetes-models/prometheus-operator@6.0.0")

ops_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ops_tools_install() {
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "ops-tools: installing Debian's prometheus (with promtool)" >&2
    ops_as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ops_as_root apt-get install -y -qq --no-install-recommends \
      prometheus >/dev/null
  fi
  if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    echo "ops-tools: installing Debian's chromium and chromium-driver" >&2
    ops_as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ops_as_root apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null
  fi
  if [ "$(cat "$ops_venv/.pins" 2>/dev/null)" != "${ops_python_pins[*]}" ]; then
    echo "ops-tools: installing ${ops_python_pins[*]} into $ops_venv" >&2
    mkdir -p "$ops_run_dir"
    python3 -m venv "$ops_venv"
    "$ops_venv/bin/pip" install --quiet --disable-pip-version-check "${ops_python_pins[@]}"
    echo "${ops_python_pins[*]}" >"$ops_venv/.pins"
  fi
  if [ "$(cat "$ops_node/.pins" 2>/dev/null)" != "${ops_node_pins[*]}" ]; then
    echo "ops-tools: installing ${ops_node_pins[*]} into $ops_node" >&2
    mkdir -p "$ops_node"
    [ -f "$ops_node/package.json" ] || echo '{"private":true}' >"$ops_node/package.json"
    (cd "$ops_node" && npm install --silent --no-audit --no-fund "${ops_node_pins[@]}")
    echo "${ops_node_pins[*]}" >"$ops_node/.pins"
  fi
}

ops_tools_install
export SLUICE_PROMETHEUS=$(command -v prometheus)
export SLUICE_PROMTOOL=$(command -v promtool)
export SLUICE_KUBERNETES_VALIDATE=$ops_venv/bin/kubernetes-validate
export SLUICE_CRD_MODULES=$ops_node/node_modules
export SLUICE_CHROMIUM=$(command -v chromium)
export SLUICE_CHROMEDRIVER=$(command -v chromedriver)
