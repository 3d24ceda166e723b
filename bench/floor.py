"""`python3 bench/run.py --only floor`: the stack's floor (bench/floor/, issue #15).

A server on the product's named crates that does only what a row measures
(bench/floor/src/main.rs), run beside nginx and the sandbox on the same
certificates, payload and load generator, repetitions interleaved. Two
questions it answers: how far the stack alone gets against nginx and
`openssl speed` (the targets' references), and how far the sandbox is
above that floor. Writes target/bench/floor.json.
"""

import json
import subprocess
from pathlib import Path

from run import OUT, ROOT, Nginx, Sandbox, interleaved, log, oha, openssl_speed

FLOOR_DIR = ROOT / "bench/floor"
FLOOR_BIN = ROOT / "target/floor/release/stack-floor"


def build():
    log("building bench/floor (a no-op when it is up to date) ...")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet",
                    "--manifest-path", FLOOR_DIR / "Cargo.toml", "--target-dir", ROOT / "target/floor"], check=True)


class Floor:
    def __init__(self, sandbox, payload, alg):
        state = Path(sandbox.info["state_dir"])
        self.proc = subprocess.Popen(
            [FLOOR_BIN, state / "server_cert.pem", state / "server_key.pem", state / "root_ca.pem",
             payload, sandbox.info["app_token"], alg],
            stdout=subprocess.PIPE, text=True)
        port = int(self.proc.stdout.readline())
        self.url = f"https://127.0.0.1:{port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main(work, a, procs, mtls_client):
    build()
    ps = Sandbox(work, "ps256", '[oauth]\nsigning_alg = "PS256"\n' + mtls_client)
    procs.append(ps)
    nginx = Nginx(work, ps, ps.banks_body())
    procs.append(nginx)
    floor = Floor(ps, nginx.dir / "banks.json", "PS256")
    procs.append(floor)
    mtls, app = ps.mtls_args(), ["-H", f"lean-app-token: {ps.info['app_token']}"]
    log("keep-alive mTLS GET /banks/v1: nginx, floor, sandbox ...")
    keepalive = interleaved(a.reps, {
        "nginx": lambda: oha(nginx.url, a.secs, a.conns, *mtls),
        "floor": lambda: oha(floor.url + "/banks/v1", a.secs, a.conns, *mtls, *app),
        "sandbox": lambda: oha(ps.info["mtls_url"] + "/banks/v1", a.secs, a.conns, *mtls, *app),
    })
    log("PS256 tokens: floor, sandbox (client_secret_post); openssl speed ...")
    form = ["-m", "POST", "-T", "application/x-www-form-urlencoded"]
    secret = f"grant_type=client_credentials&client_id={ps.info['client_id']}&client_secret={ps.info['client_secret']}"
    tokens = interleaved(a.reps, {
        "floor": lambda: oha(floor.url + "/token", a.secs, a.conns, *form, "-d", secret, *mtls),
        "sandbox": lambda: oha(ps.info["token_endpoint"], a.secs, a.conns, *form, "-d", secret, "--cacert", ps.info["ca_chain"]),
    })
    tokens["openssl_speed_rsa2048"] = {"rps": openssl_speed("rsa2048")}
    result = {"keepalive": keepalive, "ps256_tokens": tokens}
    report(result)
    (OUT / "floor.json").write_text(json.dumps(result, indent=2))


def report(r):
    k, t = r["keepalive"], r["ps256_tokens"]
    rps = lambda row: f"{row['rps']:>9,.0f}/s"
    print(f"keep-alive mTLS app token: nginx {rps(k['nginx'])}, floor {rps(k['floor'])}, sandbox {rps(k['sandbox'])}")
    print(f"  floor / nginx {k['floor']['rps'] / k['nginx']['rps']:.2f}x (target for the sandbox: >= 1.15x), "
          f"sandbox / nginx {k['sandbox']['rps'] / k['nginx']['rps']:.2f}x, sandbox / floor {k['sandbox']['rps'] / k['floor']['rps']:.2f}x")
    print(f"  p50 / p99 ms: nginx {k['nginx']['p50_ms']:.2f} / {k['nginx']['p99_ms']:.2f}, floor {k['floor']['p50_ms']:.2f} / "
          f"{k['floor']['p99_ms']:.2f}, sandbox {k['sandbox']['p50_ms']:.2f} / {k['sandbox']['p99_ms']:.2f}")
    ref = t["openssl_speed_rsa2048"]["rps"]
    print(f"PS256 tokens: floor {rps(t['floor'])}, sandbox {rps(t['sandbox'])}, openssl speed rsa2048 {ref:,.0f} sign/s")
    print(f"  floor / openssl {t['floor']['rps'] / ref:.2f}x (target for the sandbox: >= 0.85x), "
          f"sandbox / openssl {t['sandbox']['rps'] / ref:.2f}x, sandbox / floor {t['sandbox']['rps'] / t['floor']['rps']:.2f}x")
