#!/usr/bin/env bash
# Start-up time to ready — sandbox.json written, which the sandbox does only
# once all three listeners accept connections — cold (fresh state dir: full
# PKI and signing key) and warm (reused state), median of N runs; then each
# start is checked with GET /health on all three hosts (not timed), and the
# idle RSS of the last one is reported. Usage:
#   scripts/measure-startup.sh [BINARY] [N]
set -euo pipefail
bin=${1:-target/release/mtls-sandbox}
n=${2:-10}
exec python3 - "$bin" "$n" <<'PY'
import json, os, signal, ssl, statistics, subprocess, sys, tempfile, time, urllib.request

binary, n = sys.argv[1], int(sys.argv[2])
work = tempfile.mkdtemp()

def start(state):
    json_path = os.path.join(state, "sandbox.json")
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "up", "--state-dir", state, "--sandbox-port", "0", "--mtls-port", "0",
                             "--auth-port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(json_path):
        if proc.poll() is not None:
            sys.exit(f"{binary} exited with {proc.returncode}")
        time.sleep(0.001)
    elapsed_ms = (time.perf_counter() - t0) * 1000
    info = json.load(open(json_path))
    ctx = ssl.create_default_context(cafile=info["ca_chain"])
    mtls = ssl.create_default_context(cafile=info["ca_chain"])
    mtls.load_cert_chain(info["client_cert"], info["client_key"])
    for url, c in [(info["sandbox_url"], ctx), (info["auth_url"], ctx), (info["mtls_url"], mtls)]:
        with urllib.request.urlopen(url + "/health", context=c) as r:
            assert r.status == 200, url
    return proc, elapsed_ms

def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait()

cold, warm = [], []
for i in range(n):
    proc, ms = start(os.path.join(work, f"cold{i}"))
    cold.append(ms)
    stop(proc)
warm_dir = os.path.join(work, "warm")
proc, _ = start(warm_dir)
stop(proc)
for _ in range(n):
    proc, ms = start(warm_dir)
    warm.append(ms)
    stop(proc)
fmt = lambda xs: " ".join(f"{x:.0f}" for x in xs)
print(f"cold start to ready (ms): median {statistics.median(cold):.1f}  runs: {fmt(cold)}")
print(f"warm start to ready (ms): median {statistics.median(warm):.1f}  runs: {fmt(warm)}")
proc, _ = start(warm_dir)
time.sleep(1)
rss = [l for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"idle RSS: {int(rss) / 1024:.1f} MiB")
stop(proc)
PY
