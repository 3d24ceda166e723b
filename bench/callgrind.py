#!/usr/bin/env python3
"""`python3 bench/callgrind.py`: the sandbox's CPU cost per request, in
instructions (callgrind), for the paths issue #15 tracks:

  app_token      keep-alive mTLS GET /banks/v1 with lean-app-token
  bearer         the same call with Authorization: Bearer <JWT>
  token_post     POST /oauth2/token, client_secret_post (auth host)
  token_mtls     POST /oauth2/token, tls_client_auth (mtls host)
  token_pkjwt    POST /oauth2/token, private_key_jwt (auth host; ES256
                 assertions made here, one jti each)

for a PS256 and an ES256 sandbox (bearer and app token on PS256 only: the
verification of a cached token does not depend on the algorithm).

Instruction counts do not depend on the machine's load, so this is valid
on a busy machine where req/s are not. One sandbox runs under
`valgrind --tool=callgrind`; for each path the counters are zeroed, a small
and a large batch of requests sent on one keep-alive connection each (so
one handshake each), dumped, and (large - small) / (n_large - n_small)
printed: the handshake and the warm-up cancel out.

Needs valgrind, oha and target/release/mtls-sandbox; python3 with
`cryptography` and `jwt` (PyJWT) for token_pkjwt (skipped without).
`--keep DIR` keeps the callgrind dumps for `callgrind_annotate`.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/mtls-sandbox"
OHA = shutil.which("oha") or str(Path.home() / ".cargo/bin/oha")
SUBJECT = "CN=my_app, OU=Sandbox applications, O=mtls-sandbox (SANDBOX ONLY - not trusted anywhere)"


def pkjwt_key():
    """A P-256 key for the private_key_jwt client and its JWKS, or None."""
    try:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        return None, None
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench", alg="ES256", use="sig")
    return key, {"keys": [jwk]}


class Sandbox:
    """One sandbox under callgrind, in a temp state dir."""

    def __init__(self, work, alg, jwks):
        self.dir = work / alg
        self.out = work / f"{alg}.callgrind"
        cfg = work / f"{alg}.toml"
        clients = f'\n[[clients]]\nid = "bench-mtls"\nauth_method = "tls_client_auth"\ntls_subject_dn = "{SUBJECT}"\n'
        if jwks:
            clients += (f'\n[[clients]]\nid = "bench-pkjwt"\nauth_method = "private_key_jwt"\n'
                        f"jwks = '{json.dumps(jwks)}'\n")
        cfg.write_text(f'[oauth]\nsigning_alg = "{alg}"\n' + clients)
        # No key pool: its refill (RSA key generation) after ready would be
        # counted in the batches.
        env = dict(os.environ, MTLS_SANDBOX_LOG="warn", MTLS_SANDBOX_KEY_POOL="off")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}", BIN, "up",
             "--state-dir", self.dir, "--config", cfg, "--sandbox-port", "0", "--mtls-port", "0", "--auth-port", "0"],
            stdout=subprocess.DEVNULL, stderr=open(work / f"{alg}.log", "w"), env=env)
        subprocess.run([BIN, "wait", "--state-dir", self.dir, "--timeout", "300s"], check=True, capture_output=True)
        self.info = json.loads((self.dir / "sandbox.json").read_text())
        self.fullchain = work / f"{alg}-fullchain.pem"
        self.fullchain.write_text(Path(self.info["client_cert"]).read_text() + Path(self.info["ca_chain"]).read_text())
        self.dumps = 0

    def mtls_args(self):
        return ["--cacert", self.info["ca_chain"], "--cert", str(self.fullchain), "--key", self.info["client_key"]]

    def token(self):
        form = (f"grant_type=client_credentials&client_id={self.info['client_id']}"
                f"&client_secret={self.info['client_secret']}&scope=api").encode()
        url = urllib_split(self.info["token_endpoint"])
        conn = http.client.HTTPSConnection(url[0], url[1], context=ssl.create_default_context(cafile=self.info["ca_chain"]))
        conn.request("POST", url[2], form, {"content-type": "application/x-www-form-urlencoded"})
        return json.load(conn.getresponse())["access_token"]

    def measured(self, send):
        """Instructions executed while `send()` runs (counters zeroed before,
        dumped after)."""
        subprocess.run(["callgrind_control", "--zero", str(self.proc.pid)], check=True, capture_output=True)
        send()
        subprocess.run(["callgrind_control", "--dump", str(self.proc.pid)], check=True, capture_output=True)
        self.dumps += 1
        dump = Path(f"{self.out}.{self.dumps}")
        for _ in range(100):
            if dump.exists() and re.search(r"^totals: (\d+)", dump.read_text(), re.M):
                break
            time.sleep(0.1)
        return int(re.search(r"^totals: (\d+)", dump.read_text(), re.M).group(1))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def urllib_split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path


def oha(url, n, *args):
    out = subprocess.run([OHA, "--no-tui", "--output-format", "json", "-n", str(n), "-c", "1", *args, url],
                         check=True, capture_output=True, text=True).stdout
    codes = json.loads(out)["statusCodeDistribution"]
    if list(codes) != ["200"]:
        sys.exit(f"unexpected statuses from {url}: {codes}")


def pkjwt_sender(sb, key, n):
    """Sends n private_key_jwt token requests on one keep-alive connection,
    each with a fresh assertion (the sandbox refuses a reused jti)."""
    import jwt
    host, port, path = urllib_split(sb.info["token_endpoint"])
    aud = sb.info["token_endpoint"]
    forms = []
    for _ in range(n):
        now = int(time.time())
        assertion = jwt.encode({"iss": "bench-pkjwt", "sub": "bench-pkjwt", "aud": aud, "iat": now, "exp": now + 600,
                                "jti": str(uuid.uuid4())}, key, algorithm="ES256", headers={"kid": "bench"})
        forms.append(("grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:"
                      f"jwt-bearer&client_assertion={assertion}").encode())

    def send():
        conn = http.client.HTTPSConnection(host, port, context=ssl.create_default_context(cafile=sb.info["ca_chain"]))
        for form in forms:
            conn.request("POST", path, form, {"content-type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                sys.exit(f"private_key_jwt token request refused: {response.status} {body[:300]!r}")
        conn.close()
    return send


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=200, help="requests in the small batch")
    ap.add_argument("--large", type=int, default=2000, help="requests in the large batch (API calls)")
    ap.add_argument("--large-tokens", type=int, default=600, help="requests in the large batch (token requests)")
    ap.add_argument("--only", action="append", help="measure only these paths (repeatable)")
    ap.add_argument("--keep", type=Path, help="copy the callgrind dumps here")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="callgrind-"))
    key, jwks = pkjwt_key()
    form = ["-m", "POST", "-T", "application/x-www-form-urlencoded"]
    results = {}
    try:
        for alg in ("PS256", "ES256"):
            sb = Sandbox(work, alg, jwks)
            try:
                api = sb.info["mtls_url"] + "/banks/v1"
                secret = (f"grant_type=client_credentials&client_id={sb.info['client_id']}"
                          f"&client_secret={sb.info['client_secret']}")
                paths = {
                    "token_post": (a.large_tokens, lambda n: oha(sb.info["token_endpoint"], n, *form, "-d", secret,
                                                                 "--cacert", sb.info["ca_chain"])),
                    "token_mtls": (a.large_tokens, lambda n: oha(sb.info["mtls_token_endpoint"], n, *form, "-d",
                                                                 "grant_type=client_credentials&client_id=bench-mtls",
                                                                 *sb.mtls_args())),
                }
                if key is not None:
                    paths["token_pkjwt"] = (a.large_tokens, lambda n: pkjwt_sender(sb, key, n)())
                if alg == "PS256":
                    bearer = ["-H", f"Authorization: Bearer {sb.token()}"]
                    app = ["-H", f"lean-app-token: {sb.info['app_token']}"]
                    paths = {
                        "app_token": (a.large, lambda n: oha(api, n, *sb.mtls_args(), *app)),
                        "bearer": (a.large, lambda n: oha(api, n, *sb.mtls_args(), *bearer)),
                    } | paths
                for name, (large, send) in paths.items():
                    if a.only and name not in a.only:
                        continue
                    label = name if name in ("app_token", "bearer") else f"{name} {alg}"
                    send(a.small)  # warm-up: caches, allocator, first-use paths
                    small = sb.measured(lambda: send(a.small))
                    big = sb.measured(lambda: send(large))
                    per = (big - small) / (large - a.small)
                    results[label] = round(per)
                    print(f"{label:<22} {per / 1000:8.1f} k instructions/request", flush=True)
            finally:
                sb.stop()
                if a.keep:
                    a.keep.mkdir(parents=True, exist_ok=True)
                    for dump in work.glob(f"{alg}.callgrind*"):
                        shutil.copy(dump, a.keep / dump.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
