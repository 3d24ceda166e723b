#!/usr/bin/env bash
# Step 2: start the sandbox in the background and wait until it is ready.
source "$(dirname "$0")/common.sh"
say "Starting mtls-sandbox in the background (log: $state.log) ..."
"$MTLS_SANDBOX" up ${SANDBOX_UP_ARGS:-} > "$state.log" 2>&1 &
echo $! > "$state.pid"
"$MTLS_SANDBOX" wait --timeout 30s
say "Sandbox is up. Its URLs and credentials are in $state/sandbox.json and $state/sandbox.env."
