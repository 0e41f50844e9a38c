#!/usr/bin/env bash
# The soak: every broker at a fixed rate for a chosen time while faults are injected on a
# schedule (cuts, black holes, resets of broker and target connections, through fault
# proxies on 127.0.0.1). Prints RSS, open file descriptors and threads of the sluice process
# as it goes, then the final counts per pipe: sent, delivered, duplicates, lost.
#
#   scripts/soak.sh [--minutes 30] [--rate 20] [--fault-every 60] [--sample-every 10]
#
# Exit 1 if any message was lost. Brokers this script started are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/brokers.sh
source scripts/brokers.sh
cargo build --release --quiet -p sluice -p sluice-tests --bins
SLUICE_LOG=${SLUICE_LOG:-warn} SLUICE_BIN=target/release/sluice target/release/soak "$@"
