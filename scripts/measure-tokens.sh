#!/usr/bin/env bash
# Tokens/s issued over kept-alive connections (client_secret_post), PS256
# and ES256, median of N runs of oha. Usage:
#   scripts/measure-tokens.sh [BINARY] [N] [SECONDS] [CONNECTIONS]
# Needs oha (cargo install oha --locked). Loopback only, bounded in time.
set -euo pipefail
bin=${1:-target/release/mtls-sandbox}
n=${2:-5}
secs=${3:-5}
conns=${4:-8}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

for alg in PS256 ES256; do
    printf '[oauth]\nsigning_alg = "%s"\n' "$alg" > "$work/$alg.toml"
    "$bin" up --state-dir "$work/$alg" --config "$work/$alg.toml" \
        --sandbox-port 0 --mtls-port 0 --auth-port 0 >/dev/null 2>"$work/$alg.log" &
    pid=$!
    "$bin" wait --state-dir "$work/$alg" --timeout 30s >/dev/null
    json="$work/$alg/sandbox.json"
    body="grant_type=client_credentials&client_id=$(field "$json" client_id)&client_secret=$(field "$json" client_secret)"
    rates=()
    for _ in $(seq "$n"); do
        oha -z "${secs}s" -c "$conns" --no-tui --output-format json -m POST \
            -T application/x-www-form-urlencoded -d "$body" \
            --cacert "$(field "$json" ca_chain)" "$(field "$json" token_endpoint)" > "$work/out.json"
        python3 - "$work/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
assert set(codes) == {"200"}, f"non-200 responses: {codes}"
PY
        rates+=("$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['summary']['requestsPerSec']))" "$work/out.json")")
    done
    echo "$alg tokens/s (client_secret_post, keep-alive, c=$conns, ${secs}s x $n): median $(printf '%s\n' "${rates[@]}" | median)  runs: ${rates[*]}"
    kill -TERM "$pid"; wait "$pid" || true
done
