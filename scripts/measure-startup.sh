#!/usr/bin/env bash
# Measures time from exec to ready — sandbox.json written, which the sandbox
# does only once all three listeners accept connections — cold (fresh state
# dir: full PKI) and warm (reused state), as the median of N runs; then idle
# RSS. After each timed start, /health is checked on all three hosts (not
# timed: curl's own start-up would dominate). Usage:
#   scripts/measure-startup.sh [BINARY] [N]
set -euo pipefail
bin=${1:-target/release/mtls-sandbox}
n=${2:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000 )); }  # microseconds

# Starts the sandbox on $1; sets $elapsed (ms until ready) and $pid.
start_and_time() {
    local dir=$1 t0 t1
    rm -f "$dir/sandbox.json"
    t0=$(now_ms)
    "$bin" up --state-dir "$dir" --sandbox-port 0 --mtls-port 0 --auth-port 0 >/dev/null 2>"$work/log" &
    pid=$!
    until [ -s "$dir/sandbox.json" ]; do :; done
    t1=$(now_ms)
    elapsed=$((t1 - t0))
    local ca; ca="$dir/lean_public_cert_chain.pem"
    for key in sandbox_url auth_url; do
        url=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/sandbox.json" "$key")
        curl -sf --cacert "$ca" "$url/health" >/dev/null
    done
    url=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['mtls_url'])" "$dir/sandbox.json")
    curl -sf --cacert "$ca" --cert "$dir/my_app_cert.crt" --key "$dir/my_app_private_key.pem" "$url/health" >/dev/null
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

cold=(); warm=()
for i in $(seq "$n"); do
    start_and_time "$work/cold$i"; cold+=("$elapsed"); kill -TERM "$pid"; wait "$pid" || true
done
"$bin" certs --state-dir "$work/warm" >/dev/null
for i in $(seq "$n"); do
    start_and_time "$work/warm"; warm+=("$elapsed"); kill -TERM "$pid"; wait "$pid" || true
done
echo "cold start to ready (µs): median $(printf '%s\n' "${cold[@]}" | median)  runs: ${cold[*]}"
echo "warm start to ready (µs): median $(printf '%s\n' "${warm[@]}" | median)  runs: ${warm[*]}"

start_and_time "$work/warm"
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
kill -TERM "$pid"; wait "$pid" || true
