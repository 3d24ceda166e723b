# Shared settings for the numbered walkthrough scripts. Source, don't run.
#   MTLS_SANDBOX      the binary (default: release build, built on demand)
#   MTLS_SANDBOX_STATE_DIR  state dir (default: .sandbox)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${MTLS_SANDBOX_STATE_DIR:-$root/.sandbox}
export MTLS_SANDBOX_STATE_DIR=$state
if [ -z "${MTLS_SANDBOX:-}" ]; then
    MTLS_SANDBOX=$root/target/release/mtls-sandbox
    [ -x "$MTLS_SANDBOX" ] || (cd "$root" && cargo build --release -q -p mtls-sandbox)
fi
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
