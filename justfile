# mtls-sandbox tasks. `just --list` shows them all. Get just: cargo install just
# Every recipe is a plain command you can also type without just.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Start the sandbox on the default ports (4443 sandbox, 4444 mtls, 4445 auth).
up *ARGS:
    cargo run --release -- up {{ARGS}}

# Run every test (unit, end-to-end with real TLS clients, harness scenarios),
# installing the tools the tests drive when missing.
test *ARGS:
    scripts/test {{ARGS}}

# Build the container image (static binary FROM scratch, nothing pulled): mtls-sandbox:latest.
image:
    scripts/image

# Play the scenario files as workshop transcripts against a fresh sandbox.
demo *FILES="fixtures/scenarios/*.toml":
    cargo run --release -q -p harness -- run {{FILES}}

# Format the code.
fmt:
    cargo fmt --all

# Formatting and clippy, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks against nginx (mTLS) and oauth2-mock-server; table + target/bench/latest.json.
bench *ARGS:
    bench/setup.sh
    python3 bench/run.py {{ARGS}}

# The binary's code layout (emulator/link-order.txt): the functions a start, an idle
# sandbox and common requests run, placed side by side; rerun after a toolchain or
# dependency update (`python3 bench/link_order.py --check` says when it is stale).
link-order:
    cargo build --release -p mtls-sandbox
    python3 bench/link_order.py
    cargo build --release -p mtls-sandbox
    python3 bench/link_order.py --check

# Fuzz one target (token_request, jwt_verify, scenario, config) for SECS seconds.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain build it.
fuzz TARGET SECS="600":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    mkdir -p fuzz/corpus/{{TARGET}}
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {{TARGET}} -s none corpus/{{TARGET}} seeds/{{TARGET}} -- -max_total_time={{SECS}} -rss_limit_mb=2048 -timeout=10

# Soak: a release sandbox under a mixed load (every client-auth method, app-token
# and bearer calls, client/secret/certificate/fault-rule writes) for SECS seconds
# at 64 workers; fails on any unexpected status or 5xx; target/bench/soak-latest.json.
soak *ARGS:
    cargo build --release -p mtls-sandbox
    python3 bench/soak.py {{ARGS}}
