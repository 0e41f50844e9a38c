#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs (if missing) the official AWS Lambda libraries and
# runtime clients the tests check Sluice against, each pinned, each in a private directory under
# $SLUICE_RUN_DIR (nothing touches the system Python or a global node_modules), and exports
# where they are:
#
#   SLUICE_LAMBDA_PYTHON        a Python with aws-lambda-powertools (data classes and the Pydantic
#                               parser), cloudevents, awslambdaric (the Python runtime interface
#                               client) and cargo-lambda (`cargo lambda watch`: a local Invoke API)
#   SLUICE_LAMBDA_NODE_MODULES  node_modules with typescript, @types/aws-lambda,
#                               @aws-lambda-powertools/parser (zod schemas) and aws-lambda-ric
#                               (Node's runtime interface client)
#   SLUICE_CARGO_LAMBDA         the cargo-lambda binary
#
# Node's runtime interface client (npm aws-lambda-ric 4.0.2) has no prebuilt native client in
# its package: its install scripts build libcurl and aws-lambda-cpp from the sources it carries,
# then the addon with node-gyp, so Debian's cmake, autoconf, automake and libtool are installed
# first (about a minute in all), and node-gyp uses the machine's node headers (/usr/include/node)
# rather than downloading them. It declares node >= 22 and runs on the machine's 20.

lambda_run_dir=${SLUICE_RUN_DIR:-/tmp/sluice-run}
lambda_venv=$lambda_run_dir/lambda-venv
lambda_node=$lambda_run_dir/lambda-node

lambda_python_pins=(
  "aws-lambda-powertools[parser]==3.37.0"
  "cloudevents==2.2.0"
  "awslambdaric==4.2.2"
  "cargo-lambda==1.9.2"
)
lambda_node_pins=(
  "typescript@5.9.3"
  "@types/aws-lambda@8.10.164"
  "@aws-lambda-powertools/parser@2.35.0"
  "zod@4.6.7"
)

lambda_node_ric="aws-lambda-ric@4.0.2 (built)"

lambda_as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

lambda_tools_install() {
  local stamp_py="$lambda_venv/.pins" stamp_node="$lambda_node/.pins"
  if [ "$(cat "$stamp_py" 2>/dev/null)" != "${lambda_python_pins[*]}" ]; then
    echo "lambda-tools: installing ${lambda_python_pins[*]} into $lambda_venv" >&2
    mkdir -p "$lambda_run_dir"
    python3 -m venv "$lambda_venv"
    "$lambda_venv/bin/pip" install --quiet --disable-pip-version-check "${lambda_python_pins[@]}"
    echo "${lambda_python_pins[*]}" >"$stamp_py"
  fi
  if [ "$(cat "$stamp_node" 2>/dev/null)" != "${lambda_node_pins[*]} $lambda_node_ric" ]; then
    echo "lambda-tools: installing ${lambda_node_pins[*]} into $lambda_node" >&2
    mkdir -p "$lambda_node"
    [ -f "$lambda_node/package.json" ] || echo '{"private":true}' >"$lambda_node/package.json"
    (cd "$lambda_node" && npm install --silent --no-audit --no-fund "${lambda_node_pins[@]}")
    if ! command -v cmake >/dev/null || ! command -v autoreconf >/dev/null \
      || ! command -v libtoolize >/dev/null || ! command -v g++ >/dev/null; then
      echo "lambda-tools: installing Debian's cmake, autoconf, automake, libtool, g++ (aws-lambda-ric's build)" >&2
      lambda_as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive lambda_as_root apt-get install -y -qq --no-install-recommends \
        cmake autoconf automake libtool g++ make >/dev/null
    fi
    # An earlier install without its native client is not reinstalled by npm: remove it.
    rm -rf "$lambda_node/node_modules/aws-lambda-ric"
    local nodedir=()
    [ -f /usr/include/node/node.h ] && nodedir=(--nodedir=/usr)
    (cd "$lambda_node" && npm install --silent --no-audit --no-fund "${nodedir[@]}" "${lambda_node_ric%% *}")
    [ -f "$lambda_node/node_modules/aws-lambda-ric/rapid-client.node" ] || {
      echo "lambda-tools: aws-lambda-ric's native client was not built" >&2
      return 1
    }
    echo "${lambda_node_pins[*]} $lambda_node_ric" >"$stamp_node"
  fi
}

lambda_tools_install
export SLUICE_LAMBDA_PYTHON=$lambda_venv/bin/python
export SLUICE_LAMBDA_NODE_MODULES=$lambda_node/node_modules
export SLUICE_CARGO_LAMBDA=$lambda_venv/bin/cargo-lambda
