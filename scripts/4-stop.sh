#!/usr/bin/env bash
# Step 4: stop the background sandbox (graceful: in-flight requests finish).
source "$(dirname "$0")/common.sh"
if [ -f "$state.pid" ]; then
    kill -TERM "$(cat "$state.pid")" && say "Sandbox stopped."
    rm -f "$state.pid"
fi
