#!/usr/bin/env python3
"""`just soak`: holds a release-built sandbox under a mixed load and checks
that it stays correct and does not grow (issue #15, "Hold under load").

One sandbox on loopback, in a temp state dir, port 0. CONNS threads (each
its own keep-alive connections) loop over a weighted mix of operations for
SECS seconds:

- tokens by every client-authentication method the sandbox supports:
  client_secret_post (the default app), client_secret_basic,
  client_secret_jwt (HS256 assertion), private_key_jwt (ES256 assertion),
  tls_client_auth (mtls host, the app's certificate) and
  self_signed_tls_client_auth (auth host, a self-signed certificate);
- app-token and bearer calls on the sandbox and the mtls hosts (the mtls
  bearer is certificate-bound);
- a client's life: created, a secret added, a token with it, the secret
  deleted, the same token request refused, the client deleted (admin API);
- a certificate generated in the portal and revoked there;
- a fault rule added on a path of the worker's own, seen to apply, deleted,
  seen gone.

Every request has ONE expected status, so "unexpected" is exact: any other
status or a transport error counts, and so does any 5xx (none is expected:
the fault rules answer 429). RSS and open file descriptors of the sandbox
are read from /proc at start (idle), after the warm-up, at the end (still
under load) and once the load has stopped; the figures to compare are
after warm-up and at the end.

Prints a summary and writes target/bench/soak-latest.json (and a
timestamped copy). Exits 1 on any unexpected status or 5xx. Needs
target/release/mtls-sandbox (cargo build --release -p mtls-sandbox) and
Python's requests and pyjwt[crypto] (what scripts/test installs).

Throughput is reported, never judged: the load generator shares the cores.
"""

import argparse
import base64
import datetime
import shutil
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from io import BytesIO
from pathlib import Path

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from run import OUT, Sandbox, log, rss_mib

SUBJECT = "CN=my_app, OU=Sandbox applications, O=mtls-sandbox (SANDBOX ONLY - not trusted anywhere)"
HS_SECRET = "soak-hs256-secret-of-forty-eight-characters-xxxx"
CONFIG = f"""
[[clients]]
id = "testing"
secrets = ["testing"]
scopes = ["api", "admin"]

[[clients]]
id = "soak-basic"
secrets = ["soak-basic-secret"]
auth_method = "client_secret_basic"

[[clients]]
id = "soak-hs256"
secrets = ["{HS_SECRET}"]
auth_method = "client_secret_jwt"

[[clients]]
id = "soak-mtls"
auth_method = "tls_client_auth"
tls_subject_dn = "{SUBJECT}"
"""

# How often each operation is picked, relative to the others. Reads
# dominate as in real use; the writes are there often enough to run
# thousands of times in ten minutes.
WEIGHTS = {
    "token_client_secret_post": 4,
    "token_client_secret_basic": 4,
    "token_client_secret_jwt": 4,
    "token_private_key_jwt": 4,
    "token_tls_client_auth": 4,
    "token_self_signed_tls_client_auth": 4,
    "app_token_sandbox": 8,
    "app_token_mtls": 8,
    "bearer_sandbox": 8,
    "bearer_mtls": 8,
    "client_lifecycle": 2,
    "certificate_revocation": 1,
    "fault_rule": 2,
}


class Tally:
    """Counts per request kind, shared by the workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}
        self.unexpected = {}
        self.server_errors = 0
        self.samples = []  # the first few unexpected outcomes, for the report
        self.latency = {}

    def record(self, kind, status, expected, ms, detail=""):
        with self.lock:
            self.requests[kind] = self.requests.get(kind, 0) + 1
            self.latency.setdefault(kind, []).append(ms)
            if isinstance(status, int) and status >= 500:
                self.server_errors += 1
            if status != expected:
                self.unexpected[kind] = self.unexpected.get(kind, 0) + 1
                if len(self.samples) < 20:
                    self.samples.append({"kind": kind, "status": status, "expected": expected, "detail": detail[:300]})


class Fixture:
    """What the workers share: the sandbox, its files, the registered
    private_key_jwt and self-signed clients."""

    def __init__(self, sandbox, work):
        self.sb = sandbox
        self.info = sandbox.info
        self.mtls_cert = (str(sandbox.fullchain), self.info["client_key"])
        # private_key_jwt: an ES256 key whose public half is registered.
        self.pkj_key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.pkj_key.public_key()))
        jwk |= {"kid": "soak-1", "use": "sig", "alg": "ES256"}
        # self_signed_tls_client_auth: a self-signed certificate, registered as DER.
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soak self-signed")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
        (work / "self_signed.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (work / "self_signed_key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.self_signed_cert = (str(work / "self_signed.pem"), str(work / "self_signed_key.pem"))
        s = session(self.info)
        admin = {"authorization": f"Bearer {sandbox.token('testing', 'testing', 'admin')}"}
        der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.pkj_id = register(s, self.info, admin, {"name": "soak private_key_jwt",
                               "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}})
        self.self_signed_id = register(s, self.info, admin, {"name": "soak self-signed",
                                       "token_endpoint_auth_method": "self_signed_tls_client_auth",
                                       "certificates": [der]})


def session(info):
    s = requests.Session()
    s.verify = info["ca_chain"]
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    return s


def register(s, info, admin, body):
    r = s.post(info["auth_url"] + "/clients", json=body, headers=admin, timeout=30)
    if r.status_code != 201:
        raise SystemExit(f"cannot register {body['name']}: {r.status_code} {r.text}")
    return r.json()["data"]["id"]


def assertion(client_id, audience, key, alg, kid=None):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


class Worker:
    """One connection's worth of load: its own sessions and tokens."""

    def __init__(self, index, fx, tally, deadline):
        self.i, self.fx, self.tally, self.deadline = index, fx, tally, deadline
        self.info = fx.info
        self.s = session(self.info)
        self.rng = random.Random(index)
        self.tokens = {}
        self.faults = 0

    def call(self, kind, expected, method, url, **kw):
        t0 = time.perf_counter()
        try:
            r = self.s.request(method, url, timeout=30, allow_redirects=False, **kw)
            status, detail = r.status_code, r.text if r.status_code != expected else ""
        except requests.RequestException as e:
            r, status, detail = None, "error", repr(e)
        self.tally.record(kind, status, expected, (time.perf_counter() - t0) * 1000, detail)
        return r if status == expected else None

    def token(self, kind, url, data, **kw):
        data = {"grant_type": "client_credentials"} | data
        r = self.call(kind, 200, "POST", url, data=data, **kw)
        return r.json()["access_token"] if r is not None else None

    def cached(self, name, fetch):
        """A token reused for ten minutes (tokens live an hour), so a bearer
        call measures the call, not the token request."""
        got = self.tokens.get(name)
        if got is None or time.monotonic() - got[1] > 600:
            value = fetch()
            if value is None:
                return None
            got = self.tokens[name] = (value, time.monotonic())
        return got[0]

    def admin(self):
        token = self.cached("admin", lambda: self.token("token_client_secret_post", self.info["token_endpoint"], {
            "client_id": "testing", "client_secret": "testing", "scope": "admin"}))
        return {"authorization": f"Bearer {token}"}

    # --- the operations (names as in WEIGHTS) ---

    def token_client_secret_post(self):
        return self.token("token_client_secret_post", self.info["token_endpoint"],
                          {"client_id": self.info["client_id"], "client_secret": self.info["client_secret"]})

    def token_client_secret_basic(self):
        return self.token("token_client_secret_basic", self.info["token_endpoint"], {},
                          auth=("soak-basic", "soak-basic-secret"))

    def token_client_secret_jwt(self):
        a = assertion("soak-hs256", self.info["token_endpoint"], HS_SECRET, "HS256")
        return self.token("token_client_secret_jwt", self.info["token_endpoint"], {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": a})

    def token_private_key_jwt(self):
        a = assertion(self.fx.pkj_id, self.info["token_endpoint"], self.fx.pkj_key, "ES256", "soak-1")
        return self.token("token_private_key_jwt", self.info["token_endpoint"], {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": a})

    def token_tls_client_auth(self):
        return self.token("token_tls_client_auth", self.info["mtls_token_endpoint"], {"client_id": "soak-mtls"},
                          cert=self.fx.mtls_cert)

    def token_self_signed_tls_client_auth(self):
        return self.token("token_self_signed_tls_client_auth", self.info["token_endpoint"],
                          {"client_id": self.fx.self_signed_id}, cert=self.fx.self_signed_cert)

    def app_token_sandbox(self):
        self.call("app_token_sandbox", 200, "GET", self.info["sandbox_url"] + "/banks/v1",
                  headers={"lean-app-token": self.info["app_token"]})

    def app_token_mtls(self):
        self.call("app_token_mtls", 200, "GET", self.info["mtls_url"] + "/banks/v1",
                  headers={"lean-app-token": self.info["app_token"]}, cert=self.fx.mtls_cert)

    def bearer_sandbox(self):
        token = self.cached("plain", self.token_client_secret_post)
        if token:
            self.call("bearer_sandbox", 200, "GET", self.info["sandbox_url"] + "/banks/v1",
                      headers={"authorization": f"Bearer {token}"})

    def bearer_mtls(self):
        token = self.cached("bound", self.token_tls_client_auth)  # bound to the app's certificate
        if token:
            self.call("bearer_mtls", 200, "GET", self.info["mtls_url"] + "/banks/v1",
                      headers={"authorization": f"Bearer {token}"}, cert=self.fx.mtls_cert)

    def client_lifecycle(self):
        auth, admin = self.info["auth_url"], self.admin()
        r = self.call("client_create", 201, "POST", auth + "/clients", json={"name": f"soak {self.i}"}, headers=admin)
        if r is None:
            return
        cid = r.json()["data"]["id"]
        r = self.call("secret_create", 201, "POST", f"{auth}/clients/{cid}/secrets", json={"name": "s"}, headers=admin)
        if r is not None:
            secret = r.json()["data"]
            form = {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret["clear"]}
            self.call("token_new_secret", 200, "POST", self.info["token_endpoint"], data=form)
            self.call("secret_delete", 204, "DELETE", f"{auth}/clients/{cid}/secrets/{secret['id']}", headers=admin)
            self.call("token_deleted_secret", 401, "POST", self.info["token_endpoint"], data=form)
        self.call("client_delete", 204, "DELETE", f"{auth}/clients/{cid}", headers=admin)

    def certificate_revocation(self):
        portal = {"authorization": f"Bearer {self.info['portal_token']}"}
        base = self.info["sandbox_url"] + "/portal"
        r = self.call("certificate_generate", 200, "POST", base + "/certificates", headers=portal)
        if r is None:
            return
        pem = zipfile.ZipFile(BytesIO(r.content)).read("my_app_cert.crt")
        cert = x509.load_pem_x509_certificate(pem)
        # The sandbox names certificates by their DER serial bytes, in hex.
        n = cert.serial_number
        serial = n.to_bytes(n.bit_length() // 8 + 1, "big").hex()
        self.call("certificate_revoke", 303, "POST", f"{base}/certificates/{serial}/revoke", headers=portal)

    def fault_rule(self):
        auth, admin = self.info["auth_url"], self.admin()
        self.faults += 1
        path = f"/soak/fault/{self.i}/{self.faults}"
        r = self.call("fault_add", 201, "POST", auth + "/admin/faults",
                      json={"match": {"path": path}, "effect": {"status": 429}}, headers=admin)
        if r is None:
            return
        self.call("fault_applied", 429, "GET", self.info["sandbox_url"] + path)
        self.call("fault_delete", 204, "DELETE", f"{auth}/admin/faults/{r.json()['data']['id']}", headers=admin)
        self.call("fault_gone", 404, "GET", self.info["sandbox_url"] + path)

    def run(self):
        names, weights = list(WEIGHTS), list(WEIGHTS.values())
        while time.monotonic() < self.deadline:
            getattr(self, self.rng.choices(names, weights)[0])()
        self.s.close()


def resources(pid):
    return {"rss_mib": round(rss_mib(pid), 1), "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secs", type=int, default=600, help="load duration [default: 600]")
    ap.add_argument("--conns", type=int, default=64, help="concurrent workers [default: 64]")
    ap.add_argument("--warmup", type=int, help="seconds before the 'after warm-up' figures [default: min(60, secs/4)]")
    ap.add_argument("--without", action="append", default=[], choices=list(WEIGHTS), metavar="KIND",
                    help="leave an operation out of the mix (repeatable), to find what makes a figure grow")
    a = ap.parse_args()
    for kind in a.without:
        WEIGHTS[kind] = 0
    warmup = a.warmup if a.warmup is not None else min(60, a.secs // 4)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    os.environ["MTLS_SANDBOX_KEY_POOL"] = str(work / "key-pool")  # never ~/.cache
    sb = Sandbox(work, "soak", CONFIG)
    pid = sb.proc.pid
    R = {"machine": {"cores": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
         "settings": {"secs": a.secs, "conns": a.conns, "warmup_secs": warmup, "weights": WEIGHTS}}
    try:
        fx = Fixture(sb, work)
        tally = Tally()
        R["resources"] = {"start": resources(pid)}
        t0 = time.monotonic()
        deadline = t0 + a.secs
        workers = [Worker(i, fx, tally, deadline) for i in range(a.conns)]
        threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
        for t in threads:
            t.start()
        log(f"soak: {a.conns} workers for {a.secs}s against pid {pid} (state {sb.dir}) ...")
        trend = []
        while time.monotonic() < deadline - 1:
            time.sleep(min(5, max(0.0, deadline - 1 - time.monotonic())))
            elapsed = time.monotonic() - t0
            sample = resources(pid) | {"t": round(elapsed), "requests": sum(tally.requests.values())}
            trend.append(sample)
            if "after_warmup" not in R["resources"] and elapsed >= warmup:
                R["resources"]["after_warmup"] = resources(pid)
        R["resources"]["end_under_load"] = resources(pid)
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - t0
        time.sleep(1)
        R["resources"]["after_load"] = resources(pid)
        R["resources"]["trend"] = trend
        R["elapsed_secs"] = round(elapsed, 1)
        R["requests"] = sum(tally.requests.values())
        R["requests_per_sec"] = round(R["requests"] / elapsed)
        R["unexpected"] = sum(tally.unexpected.values())
        R["server_errors_5xx"] = tally.server_errors
        R["by_kind"] = {k: {"requests": n, "unexpected": tally.unexpected.get(k, 0),
                            "p50_ms": round(statistics.median(tally.latency[k]), 2),
                            "p99_ms": round(statistics.quantiles(tally.latency[k], n=100)[98], 2) if n > 1 else None}
                        for k, n in sorted(tally.requests.items())}
        R["unexpected_samples"] = tally.samples
        R["machine"]["loadavg_at_end"] = os.getloadavg()
    finally:
        sb.stop()
    shutil.rmtree(work, ignore_errors=True)
    report(R)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in ("soak-latest.json", f"soak-{stamp}.json"):
        (OUT / name).write_text(json.dumps(R, indent=2))
    log(f"\nwritten: {OUT / 'soak-latest.json'}")
    sys.exit(1 if R["unexpected"] or R["server_errors_5xx"] else 0)


def report(R):
    res = R["resources"]
    print(f"\nmtls-sandbox soak — {R['machine']['cores']} cores, {R['settings']['conns']} workers, "
          f"{R['elapsed_secs']} s (load average {R['machine']['loadavg_at_start'][0]:.1f} at start)\n")
    print(f"| {'request kind':<34} | {'requests':>9} | {'unexpected':>10} | {'p50 ms':>7} | {'p99 ms':>8} |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 12}|{'-' * 9}|{'-' * 10}|")
    for kind, k in R["by_kind"].items():
        print(f"| {kind:<34} | {k['requests']:>9,} | {k['unexpected']:>10} | {k['p50_ms']:>7.2f} | {k['p99_ms'] or 0:>8.2f} |")
    print(f"\nrequests {R['requests']:,} ({R['requests_per_sec']:,}/s), unexpected statuses {R['unexpected']}, "
          f"5xx {R['server_errors_5xx']}")
    for name in ("start", "after_warmup", "end_under_load", "after_load"):
        if name in res:
            print(f"{name:<15} RSS {res[name]['rss_mib']:6.1f} MiB, open fds {res[name]['open_fds']}")
    for s in R["unexpected_samples"][:5]:
        print(f"unexpected: {s}")


if __name__ == "__main__":
    main()
