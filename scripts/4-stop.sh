#!/usr/bin/env bash
# Step 4: stop the background sandbox (graceful: in-flight requests finish)
# and wait until its ports are free.
source "$(dirname "$0")/common.sh"
"$MTLS_SANDBOX" down
rm -f "$state.pid"
