#!/usr/bin/env bash
# Instructions per request of the two gateway rows of `just bench`
# (bench/run.py): keep-alive mTLS through the gateway to a plain-HTTP nginx
# upstream serving a static JSON file, with the certificate header
# (route /gw/, no token) and with the bearer check (route /gwt/, scope api).
#
# Why callgrind and not req/s: instruction counts do not move with the load
# of a shared 2-core machine, so a change of a few percent is visible.
# Each row runs the release binary under callgrind twice, with N_SMALL and
# N_LARGE requests (oha -c CONNS, keep-alive), and reports
# (I(N_LARGE) - I(N_SMALL)) / (N_LARGE - N_SMALL): start-up, handshakes and
# the token request cancel out. The N_LARGE profiles are kept for
# `callgrind_annotate` in target/bench/callgrind-gateway/.
#
# Needs: target/release/mtls-sandbox (cargo build --release), valgrind,
# nginx, oha, curl, python3. Usage: bench/callgrind_gateway.sh
# [N_SMALL N_LARGE CONNS] (default 200 2000 4); on a shared machine prefix
# it with `nice -n 15`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/target/release/mtls-sandbox
OUT=$ROOT/target/bench/callgrind-gateway
N_SMALL=${1:-200}
N_LARGE=${2:-2000}
CONNS=${3:-4}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release -p mtls-sandbox" >&2; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/callgrind-gateway.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The upstream, as bench/run.py's: nginx, plain HTTP, an 842-byte JSON file.
UP_PORT=$(free_port)
mkdir -p "$WORK/nginx"
python3 -c 'import json,sys; sys.stdout.write(json.dumps({"banks":[{"id":"b%03d"%i,"name":"Bank %d"%i} for i in range(24)]})[:840].ljust(842))' \
    > "$WORK/nginx/banks.json"
USER_LINE=$([ "$(id -u)" = 0 ] && echo "user root;" || true)
cat > "$WORK/nginx/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
error_log $WORK/nginx/error.log warn;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$UP_PORT;
        location = /banks/v1 { default_type application/json; alias $WORK/nginx/banks.json; }
    }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' >/dev/null 2>&1 &
PIDS+=($!)

UPSTREAM=http://127.0.0.1:$UP_PORT
cat > "$WORK/gateway.toml" <<EOF
[[gateway]]
prefix = "/gw/"
upstream = "$UPSTREAM"
strip_prefix = true
require_token = false
[[gateway]]
prefix = "/gwt/"
upstream = "$UPSTREAM"
strip_prefix = true
scopes = ["api"]
EOF
STATE=$WORK/state
export MTLS_SANDBOX_LOG=warn
# No key pool: its refill (RSA key generation) after ready would be counted.
export MTLS_SANDBOX_KEY_POOL=off

# One sandbox under callgrind (or natively when $1 is ""): starts it,
# serves $3 requests to $2, stops it. Prints nothing; the profile is $1.
serve() {
    local profile=$1 path=$2 n=$3
    local cmd=("$BIN" up --state-dir "$STATE" --config "$WORK/gateway.toml"
               --sandbox-port 0 --mtls-port 0 --auth-port 0)
    if [ -n "$profile" ]; then
        cmd=(valgrind --tool=callgrind --callgrind-out-file="$profile" "${cmd[@]}")
    fi
    "${cmd[@]}" >/dev/null 2>>"$WORK/sandbox.log" &
    local pid=$!
    PIDS+=($pid)
    "$BIN" wait --state-dir "$STATE" --timeout 300s >/dev/null
    local info=$STATE/sandbox.json
    get() { python3 -c "import json,sys; print(json.load(open('$info'))['$1'])"; }
    local mtls ca cert key
    mtls=$(get mtls_url); ca=$(get ca_chain); key=$(get client_key)
    cat "$(get client_cert)" "$ca" > "$WORK/fullchain.pem"
    local auth=()
    if [ "$path" = /gwt/banks/v1 ]; then
        local token
        token=$(curl -sf --cacert "$ca" "$(get token_endpoint)" \
            -d "grant_type=client_credentials&client_id=$(get client_id)&client_secret=$(get client_secret)&scope=api" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
        auth=(-H "Authorization: Bearer $token")
    fi
    if [ "$n" -gt 0 ]; then
        oha --no-tui --output-format json -n "$n" -c "$CONNS" --cacert "$ca" --cert "$WORK/fullchain.pem" \
            --key "$key" "${auth[@]}" "$mtls$path" > "$WORK/oha.json"
        python3 - "$WORK/oha.json" "$path" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
if set(codes) != {"200"}:
    sys.exit(f"{sys.argv[2]}: unexpected responses {codes} errors {r.get('errorDistribution')}")
PY
    fi
    kill -TERM "$pid"
    wait "$pid" || true
}

total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }

# A first, native start makes the state dir (PKI, keys), so the profiled
# starts are warm and alike.
serve "" /gw/banks/v1 0

printf '%-44s %14s %14s %12s\n' "row" "I($N_SMALL)" "I($N_LARGE)" "instr/request"
for row in "gw:mTLS + certificate header:/gw/banks/v1" "gwt:+ bearer JWT check:/gwt/banks/v1"; do
    IFS=: read -r name label path <<<"$row"
    serve "$WORK/$name-small.out" "$path" "$N_SMALL"
    serve "$OUT/$name.out" "$path" "$N_LARGE"
    small=$(total "$WORK/$name-small.out")
    large=$(total "$OUT/$name.out")
    per=$(( (large - small) / (N_LARGE - N_SMALL) ))
    printf '%-44s %14s %14s %12s\n' "gateway, $label" "$small" "$large" "$per"
done
echo "profiles: $OUT/{gw,gwt}.out (callgrind_annotate --inclusive=yes FILE | head -80)"
