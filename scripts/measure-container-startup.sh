#!/usr/bin/env bash
# Start to ready in the container image vs. the same static binary on the
# host, each on a fresh state dir (cold: full PKI and keys), median of N:
#   container: `docker run` → sandbox.json in the volume, and → Docker's
#              health status `healthy` (the HEALTHCHECK runs `mtls-sandbox
#              wait` every second, so this one moves in steps of ~1 s)
#   host:      `mtls-sandbox up` → sandbox.json
# Loopback only (--network host, --bind 127.0.0.1). Needs a Docker daemon
# and root (the volume is chowned to the image's uid). Usage:
#   scripts/measure-container-startup.sh [IMAGE] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-mtls-sandbox:latest}
n=${2:-5}
exec python3 - "$image" "$n" target/x86_64-unknown-linux-gnu/release/mtls-sandbox <<'PY'
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

image, n, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def ports():
    socks = [socket.socket() for _ in range(3)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    found = [str(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ["--sandbox-port", found[0], "--mtls-port", found[1], "--auth-port", found[2]]

def wait_for(check, what, limit=60):
    deadline = time.perf_counter() + limit
    while not check():
        if time.perf_counter() > deadline:
            sys.exit(f"{what} did not happen within {limit} s")
        time.sleep(0.001)
    return time.perf_counter()

def container_once():
    volume = tempfile.mkdtemp()
    os.chown(volume, 10001, 10001)
    json_path = os.path.join(volume, "sandbox", "sandbox.json")
    health = lambda: subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid],
                                    capture_output=True, text=True).stdout.strip() == "healthy"
    t0 = time.perf_counter()
    cid = subprocess.run(["docker", "run", "-d", "--network", "host", "-v", f"{volume}:/state",
                          "-e", "MTLS_SANDBOX_BIND=127.0.0.1", image, "up", *ports()],
                         check=True, capture_output=True, text=True).stdout.strip()
    try:
        ready = wait_for(lambda: os.path.exists(json_path), "sandbox.json")
        healthy = wait_for(health, "healthy")
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", cid], capture_output=True)
        shutil.rmtree(volume)
    return (ready - t0) * 1000, (healthy - t0) * 1000

def host_once():
    work = tempfile.mkdtemp()
    state = os.path.join(work, "state")
    json_path = os.path.join(state, "sandbox.json")
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "up", "--state-dir", state, *ports()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = wait_for(lambda: os.path.exists(json_path) or proc.poll() is not None, "sandbox.json")
        if proc.poll() is not None:
            sys.exit(f"{binary} exited with {proc.returncode}")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work)
    return (ready - t0) * 1000

runs = [container_once() for _ in range(n)]
host = [host_once() for _ in range(n)]
fmt = lambda xs: f"median {statistics.median(xs):.0f} ms  (runs: {', '.join(f'{x:.0f}' for x in xs)})"
print(f"container, docker run -> sandbox.json: {fmt([r[0] for r in runs])}")
print(f"container, docker run -> healthy:      {fmt([r[1] for r in runs])}")
print(f"host, mtls-sandbox up -> sandbox.json: {fmt(host)}")
PY
