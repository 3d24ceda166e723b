#!/usr/bin/env bash
# Installs what `just bench` needs when missing: oha (crates.io), nginx
# (Debian nginx-light), oauth2-mock-server (npm, into target/bench/node),
# and builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v oha >/dev/null || cargo install oha --locked
if ! command -v nginx >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light
    # The package starts a system nginx on port 80; the bench runs its own.
    (command -v service >/dev/null && service nginx stop) >/dev/null 2>&1 || true
fi
[ -x target/bench/node/node_modules/.bin/oauth2-mock-server ] \
    || npm install --silent --prefix target/bench/node oauth2-mock-server@9
cargo build --release -p mtls-sandbox
