#!/usr/bin/env python3
"""`just bench`: mtls-sandbox side by side with nginx (mTLS) and the npm
oauth2-mock-server, in ONE run, on the same certificates, with the same load
generator (oha), each figure the median of N repetitions. Loopback only;
every load is bounded in time.

Prints a table and writes target/bench/latest.json (and a timestamped copy).
Needs: target/release/mtls-sandbox, oha, nginx, node + oauth2-mock-server,
openssl — bench/setup.sh installs what is missing.

Ratios, not absolute numbers, are the point: load generator and servers
share the machine's cores, so runs vary by ±15%; compare only within a run.
"""

import argparse
import json
import os
import re
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/mtls-sandbox"
O2M = ROOT / "target/bench/node/node_modules/.bin/oauth2-mock-server"
OUT = ROOT / "target/bench"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def oha(url, secs, conns, *args, expect="200"):
    """One oha run; returns requests/s and p50/p99 latency in ms."""
    out = subprocess.run(
        ["oha", "--no-tui", "--output-format", "json", "-z", f"{secs}s", "-c", str(conns), *args, url],
        check=True, capture_output=True, text=True,
    ).stdout
    r = json.loads(out)
    codes = r.get("statusCodeDistribution", {})
    # A bare leaf or bad token gets 4xx and a fine-looking rps: check codes.
    if set(codes) != {expect}:
        raise SystemExit(f"{url}: unexpected responses {codes} errors {r.get('errorDistribution')}")
    p = r["latencyPercentiles"]
    return {"rps": r["summary"]["requestsPerSec"], "p50_ms": p["p50"] * 1000, "p99_ms": p["p99"] * 1000}


def medians(runs):
    """Per key, the median of `runs` (dicts of numbers from oha), and each run's rps."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": [round(r["rps"]) for r in runs]}


def repeat(n, fn):
    """Median of n runs of fn() (a dict of numbers)."""
    return medians([fn() for _ in range(n)])


def interleaved(reps, runs):
    """Each repetition runs every entry of `runs` once, in turn, so a drift of
    the machine's speed reaches all of them alike; medians per entry."""
    results = {name: [] for name in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            results[name].append(fn())
    return {name: medians(rs) for name, rs in results.items()}


class Sandbox:
    def __init__(self, work, name, config="", extra=(), timeout="60s", binary=BIN):
        self.dir = work / name
        cfg = work / f"{name}.toml"
        cfg.write_text(config)
        env = dict(os.environ, MTLS_SANDBOX_LOG="warn")  # nginx runs with access_log off too
        self.proc = subprocess.Popen(
            [binary, "up", "--state-dir", self.dir, "--config", cfg, "--sandbox-port", "0", "--mtls-port", "0", "--auth-port", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=open(work / f"{name}.log", "w"), env=env,
        )
        subprocess.run([binary, "wait", "--state-dir", self.dir, "--timeout", timeout], check=True, capture_output=True)
        self.info = json.loads((self.dir / "sandbox.json").read_text())
        self.fullchain = work / f"{name}-fullchain.pem"
        self.fullchain.write_text(Path(self.info["client_cert"]).read_text() + Path(self.info["ca_chain"]).read_text())

    def mtls_args(self):
        return ["--cacert", self.info["ca_chain"], "--cert", str(self.fullchain), "--key", self.info["client_key"]]

    def banks_body(self):
        """The body of GET /banks/v1 on the mtls host: what nginx and the floor serve as a file."""
        ctx = ssl.create_default_context(cafile=self.info["ca_chain"])
        ctx.load_cert_chain(str(self.fullchain), self.info["client_key"])
        req = urllib.request.Request(self.info["mtls_url"] + "/banks/v1", headers={"lean-app-token": self.info["app_token"]})
        return urllib.request.urlopen(req, context=ctx).read()

    def token(self, client_id=None, secret=None, scope="api"):
        body = (f"grant_type=client_credentials&client_id={client_id or self.info['client_id']}"
                f"&client_secret={secret or self.info['client_secret']}&scope={scope}")
        return self.call("POST", self.info["token_endpoint"], body.encode(), "application/x-www-form-urlencoded")["access_token"]

    def call(self, method, url, data=None, content_type="application/json", token=None):
        ctx = ssl.create_default_context(cafile=self.info["ca_chain"])
        headers = {"content-type": content_type} | ({"authorization": f"Bearer {token}"} if token else {})
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        return json.load(urllib.request.urlopen(req, context=ctx))

    def faults(self, rule=None):
        """Installs a fault rule, or clears them all (admin API, static client testing/testing,
        which the config must register)."""
        admin = self.token("testing", "testing", "admin")
        url = self.info["auth_url"] + "/admin/faults"
        if rule is None:
            return self.call("DELETE", url, token=admin)
        return self.call("POST", url, json.dumps(rule).encode(), token=admin)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def start_nginx(conf_dir, servers):
    """nginx in the foreground with `servers` as its http block, tuned alike
    for every row that uses it: no access log, no TLS session reuse."""
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dir (0700)
    (conf_dir / "nginx.conf").write_text(f"""
{user}
worker_processes auto;
error_log {conf_dir}/error.log warn;
pid {conf_dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    ssl_session_cache off;
    ssl_session_tickets off;
{servers}
}}
""")
    return subprocess.Popen(["nginx", "-c", conf_dir / "nginx.conf", "-p", conf_dir, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Nginx:
    def __init__(self, work, sandbox, body):
        self.dir = work / "nginx"
        self.dir.mkdir()
        (self.dir / "banks.json").write_bytes(body)
        self.port, self.upstream_port = free_port(), free_port()
        state = Path(sandbox.info["state_dir"])
        self.proc = start_nginx(self.dir, f"""
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate {state}/server_cert.pem;
        ssl_certificate_key {state}/server_key.pem;
        ssl_client_certificate {state}/root_ca.pem;
        ssl_verify_client on;
        ssl_verify_depth 2;
        location = /banks/v1 {{ default_type application/json; alias {self.dir}/banks.json; }}
        # The gateway reference: mTLS in front of the plain upstream below,
        # forwarding the certificate as the sandbox's gateway does.
        location /gw/ {{
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
    # The upstream API both gateways forward to: plain HTTP, static JSON.
    upstream backend {{ server 127.0.0.1:{self.upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{self.upstream_port};
        location = /banks/v1 {{ default_type application/json; alias {self.dir}/banks.json; }}
    }}
""")
        wait_port(self.port)
        self.url = f"https://127.0.0.1:{self.port}/banks/v1"
        self.gateway_url = f"https://127.0.0.1:{self.port}/gw/banks/v1"

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait()


class ProxyFront:
    """nginx from fixtures/proxy/nginx.conf (the README's, the tests') in front of
    a sandbox started with --trusted-proxy 127.0.0.1/32, tuned like Nginx above."""

    def __init__(self, work, sandbox):
        self.dir = work / "proxy-front"
        self.dir.mkdir()
        self.port, auth_port = free_port(), free_port()
        port = lambda url: url.rsplit(":", 1)[1]
        servers = ((ROOT / "fixtures/proxy/nginx.conf").read_text()
                   .replace("STATE_DIR", str(Path(sandbox.info["state_dir"]).resolve()))
                   .replace("SANDBOX_MTLS_PORT", port(sandbox.info["mtls_url"]))
                   .replace("SANDBOX_AUTH_PORT", port(sandbox.info["auth_url"]))
                   .replace("PROXY_MTLS_PORT", str(self.port)).replace("PROXY_AUTH_PORT", str(auth_port)))
        self.proc = start_nginx(self.dir, servers)
        wait_port(self.port)
        self.url = f"https://127.0.0.1:{self.port}/banks/v1"

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait()


def behind_proxy(work, a, nginx, ps, procs):
    """Keep-alive mTLS through nginx to a --trusted-proxy sandbox (app token),
    against nginx alone serving the same payload as a static file."""
    bp = Sandbox(work, "behind-proxy", extra=["--trusted-proxy", "127.0.0.1/32"])
    procs.append(bp)
    front = ProxyFront(work, bp)
    procs.append(front)
    hdr = ["-H", f"lean-app-token: {bp.info['app_token']}"]
    result = {
        "nginx": repeat(a.reps, lambda: oha(nginx.url, a.secs, a.conns, *ps.mtls_args())),
        "through_nginx": repeat(a.reps, lambda: oha(front.url, a.secs, a.conns, *bp.mtls_args(), *hdr)),
    }
    for p in (front, bp):
        p.stop()
        procs.remove(p)
    return result


class MockServer:
    """npm oauth2-mock-server over HTTPS with the sandbox's server certificate."""

    def __init__(self, sandbox):
        self.port = free_port()
        state = Path(sandbox.info["state_dir"])
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([O2M, "-a", "127.0.0.1", "-p", str(self.port), "-c", state / "server_cert.pem",
                                      "-k", state / "server_key.pem"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"https://127.0.0.1:{self.port}"
        ctx = ssl.create_default_context(cafile=sandbox.info["ca_chain"])
        while True:  # ready = answers discovery
            try:
                urllib.request.urlopen(self.base + "/.well-known/openid-configuration", context=ctx, timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit("oauth2-mock-server exited")
                time.sleep(0.002)
        self.start_ms = (time.perf_counter() - self.t0) * 1000

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(5000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.002)
    raise SystemExit(f"nothing listens on {port}")


def openssl_speed(alg):
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "-multi", str(os.cpu_count()), alg],
                         check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if re.match(r"^(rsa 2048|\s*256 bits ecdsa)", l)][-1]
    nums = re.findall(r"[\d.]+", line.split("bits", 1)[1].split(")")[-1])
    return float(nums[2])  # sign/s


POOL_ENV = "MTLS_SANDBOX_KEY_POOL"


def pool_spares(pool):
    return len([p for p in pool.glob("*.pem") if not p.name.startswith(".")]) if pool.is_dir() else 0


def start_once(state, extra=(), binary=BIN, pool=None):
    """One start of `binary` on `state`: ms to ready (sandbox.json written),
    then ms for a token request sent at that moment (a new TLS connection
    included); stops the sandbox before returning. `pool`: the RSA key pool
    dir (None: off); the sandbox is stopped only once it has refilled it, as
    one that ran longer than this measure would have."""
    t0 = time.perf_counter()
    env = dict(os.environ, **{POOL_ENV: str(pool) if pool else "off"})
    proc = subprocess.Popen([binary, "up", "--state-dir", state, "--sandbox-port", "0", "--mtls-port", "0", "--auth-port", "0", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while not (state / "sandbox.json").exists():
        time.sleep(0.001)
    ms = (time.perf_counter() - t0) * 1000
    info = json.loads((state / "sandbox.json").read_text())
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": info["client_id"],
                                   "client_secret": info["client_secret"]}).encode()
    t1 = time.perf_counter()
    urllib.request.urlopen(info["token_endpoint"], data=form, context=ssl.create_default_context(cafile=info["ca_chain"])).read()
    token_ms = (time.perf_counter() - t1) * 1000
    deadline = time.time() + 30
    while pool and pool_spares(pool) < 2 and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    return ms, token_ms


def startup_line(m):
    return (f"cold {m['cold_start_ms']:.1f} ms (target <= 50; key pool filled), warm {m['warm_start_ms']:.1f} ms "
            f"(target <= 10), cold without a key pool {m['cold_no_pool_start_ms']:.1f} ms; first token request at "
            f"ready: cold {m['cold_first_token_ms']:.1f} ms, warm {m['warm_first_token_ms']:.1f} ms")


def startup(work, n, extra=(), prefix="cold", binaries=(BIN,)):
    """Medians of start to ready and of the first token request at ready
    ([`start_once`]): cold (a new state dir, its RSA keys from a filled key
    pool, as on any machine where a sandbox ran before), warm (the same dir
    again) and cold without a pool (the first start on a machine).
    Work moved after ready shows in the token figure. `extra`: more
    arguments for `up` (`--apps 100`). With several `binaries` (an A/B), their
    runs interleave, so load from elsewhere on the machine hits all alike;
    returns one dict per binary."""
    runs = {b: {"cold": [], "warm": [], "cold_no_pool": []} for b in binaries}
    for j, b in enumerate(binaries):  # fill each binary's pool before the first measure
        start_once(work / f"{prefix}{j}-prime", extra, b, work / f"pool{j}")
    for kind in ("cold", "warm", "cold_no_pool"):
        for i in range(n):
            for j, b in enumerate(binaries):
                state = work / f"{prefix}{j}-{kind}-{i if kind != 'warm' else 0}"
                pool = None if kind == "cold_no_pool" else work / f"pool{j}"
                runs[b][kind].append(start_once(state, extra, b, pool))
    med = lambda rs, i: statistics.median(r[i] for r in rs)
    out = [{"cold_start_ms": med(r["cold"], 0), "warm_start_ms": med(r["warm"], 0),
            "cold_no_pool_start_ms": med(r["cold_no_pool"], 0),
            "cold_first_token_ms": med(r["cold"], 1), "warm_first_token_ms": med(r["warm"], 1)} for r in runs.values()]
    return out[0] if len(binaries) == 1 else out


def rss_mib(pid, field="VmRSS"):
    """`field` of /proc/PID/status in MiB: VmRSS (the target's measure), or
    its parts RssAnon (heap, stacks) and RssFile (mostly the executable's
    pages, clean and shared with the page cache)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


def open_connections(sandbox, count):
    """Opens `count` idle mTLS connections (full handshakes) to the mtls host."""
    ctx = ssl.create_default_context(cafile=sandbox.info["ca_chain"])
    ctx.load_cert_chain(str(sandbox.fullchain), sandbox.info["client_key"])
    host, port = sandbox.info["mtls_url"].removeprefix("https://").rsplit(":", 1)
    conns = []
    for _ in range(count):
        s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # proves the handshake (TLS 1.3) and keeps it open
        s.recv(4096)
        conns.append(s)
    return conns


def memory(work, name, binary=BIN):
    """RSS of a sandbox (default config) idle — started and ready, nothing
    served yet — and with 1,000 open mTLS connections, in MiB; and the
    anonymous part of each."""
    mem = Sandbox(work, name, binary=binary)
    try:
        time.sleep(0.5)
        idle = rss_mib(mem.proc.pid), rss_mib(mem.proc.pid, "RssAnon")
        conns = open_connections(mem, 1000)
        held = rss_mib(mem.proc.pid), rss_mib(mem.proc.pid, "RssAnon")
        for c in conns:
            c.close()
    finally:
        mem.stop()
    return idle[0], held[0], idle[1], held[1]


def only_startup_or_rss(work, a):
    """`--only startup` / `--only rss`: that measure alone, at least 10
    repetitions, for each `--bin` (an A/B: repetitions interleave)."""
    n = max(a.reps, 10)
    bins = [Path(b).resolve() for b in a.bin] or [BIN]
    if a.only == "startup":
        rows = startup(work, n, binaries=bins)
        rows = [rows] if len(bins) == 1 else rows
        result = {}
        for b, m in zip(bins, rows):
            print(f"{b}: start to ready, median of {n}: {startup_line(m)}")
            result[str(b)] = m
    else:
        runs = {b: [] for b in bins}
        for i in range(n):
            for j, b in enumerate(bins):
                runs[b].append(memory(work, f"memory{j}-{i}", b))
        result = {}
        for b, rs in runs.items():
            idle, held, idle_anon, held_anon = (statistics.median(r[k] for r in rs) for k in range(4))
            print(f"{b}: RSS, median of {n}: idle {idle:.1f} MiB (target <= 15.3 MiB; anonymous {idle_anon:.1f}), "
                  f"1,000 open mTLS connections {held:.1f} MiB (target <= 45.8 MiB; anonymous {held_anon:.1f})")
            result[str(b)] = {"rss_idle_mib": idle, "rss_1000_conns_mib": held, "rss_anon_idle_mib": idle_anon,
                              "rss_anon_1000_conns_mib": held_anon, "runs": rs}
    (OUT / f"{a.only}.json").write_text(json.dumps(result, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--secs", type=int, default=4)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--only", choices=["behind_proxy", "apps", "startup", "rss", "floor"],
                    help="run one row (with its reference) and print it")
    ap.add_argument("--bin", action="append", default=[],
                    help="with --only startup|rss: the binary to measure (repeat for an interleaved A/B)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    # Every sandbox started here uses a key pool of its own, never ~/.cache.
    os.environ[POOL_ENV] = str(work / "key-pool")
    R = {"machine": {"cores": os.cpu_count()}, "settings": vars(a)}
    subject = "CN=my_app, OU=Sandbox applications, O=mtls-sandbox (SANDBOX ONLY - not trusted anywhere)"
    mtls_client = (f'\n[[clients]]\nid = "bench-mtls"\nauth_method = "tls_client_auth"\ntls_subject_dn = "{subject}"\n'
                   '\n[[clients]]\nid = "testing"\nsecrets = ["testing"]\nscopes = ["api", "admin"]\n')

    procs = []
    if a.only in ("startup", "rss"):
        only_startup_or_rss(work, a)
        return
    if a.only == "floor":
        import floor  # bench/floor.py: the stack's floor beside nginx and the sandbox
        try:
            floor.main(work, a, procs, mtls_client)
        finally:
            for p in reversed(procs):
                p.stop()
        return
    if a.only == "apps":
        from apps import many_apps, report_apps  # bench/apps.py
        try:
            m = many_apps(work, a, procs, a.reps)
        finally:
            for p in reversed(procs):
                p.stop()
        report_apps(m)
        (OUT / "apps.json").write_text(json.dumps(m, indent=2))
        return
    try:
        ps = Sandbox(work, "ps256", '[oauth]\nsigning_alg = "PS256"\n' + mtls_client)
        procs.append(ps)
        es = Sandbox(work, "es256", '[oauth]\nsigning_alg = "ES256"\n' + mtls_client)
        procs.append(es)
        body = ps.banks_body()
        nginx = Nginx(work, ps, body)
        procs.append(nginx)
        R["payload_bytes"] = len(body)
        if a.only == "behind_proxy":
            b = behind_proxy(work, a, nginx, ps, procs)
            ratio = b["through_nginx"]["rps"] / b["nginx"]["rps"]
            print(f"behind nginx, keep-alive mTLS, app token: {b['through_nginx']['rps']:,.0f}/s "
                  f"(p50 {b['through_nginx']['p50_ms']:.2f} ms); nginx alone, static file: "
                  f"{b['nginx']['rps']:,.0f}/s (p50 {b['nginx']['p50_ms']:.2f} ms); ratio {ratio:.2f}x")
            (OUT / "behind_proxy.json").write_text(json.dumps(b, indent=2))
            return

        log("1/5 keep-alive mTLS GET /banks/v1 ...")
        app_hdr = ["-H", f"lean-app-token: {ps.info['app_token']}"]
        bearer_hdr = ["-H", f"Authorization: Bearer {ps.token()}"]
        url = ps.info["mtls_url"] + "/banks/v1"
        R["keepalive"] = {
            "nginx": repeat(a.reps, lambda: oha(nginx.url, a.secs, a.conns, *ps.mtls_args())),
            "app_token": repeat(a.reps, lambda: oha(url, a.secs, a.conns, *ps.mtls_args(), *app_hdr)),
            "bearer_jwt": repeat(a.reps, lambda: oha(url, a.secs, a.conns, *ps.mtls_args(), *bearer_hdr)),
        }
        # Fault matching: with no rule it is one atomic load per request; a
        # rule that never matches bounds the cost from above.
        es.faults({"match": {"path": "/never/*"}, "effect": {"status": 503}})
        es_url, es_hdr = es.info["mtls_url"] + "/banks/v1", ["-H", f"lean-app-token: {es.info['app_token']}"]
        R["keepalive"]["app_token_nonmatching_fault"] = repeat(a.reps, lambda: oha(es_url, a.secs, a.conns, *es.mtls_args(), *es_hdr))
        es.faults()
        # The request inspector records every request; the same sandbox
        # with it turned off is the reference.
        off = Sandbox(work, "noinspect", '[oauth]\nsigning_alg = "PS256"\n' + mtls_client, ["--inspect", "0"])
        procs.append(off)
        off_url, off_hdr = off.info["mtls_url"] + "/banks/v1", ["-H", f"lean-app-token: {off.info['app_token']}"]
        R["keepalive"]["app_token_inspector_off"] = repeat(a.reps, lambda: oha(off_url, a.secs, a.conns, *off.mtls_args(), *off_hdr))
        off.stop()
        procs.remove(off)

        log("2/5 full mTLS handshake per request ...")
        R["handshake"] = {
            "nginx": repeat(a.reps, lambda: oha(nginx.url, a.secs, a.conns, "--disable-keepalive", *ps.mtls_args())),
            "app_token": repeat(a.reps, lambda: oha(url, a.secs, a.conns, "--disable-keepalive", *ps.mtls_args(), *app_hdr)),
        }

        log("2b/5 gateway: forwarded requests over kept-alive mTLS ...")
        upstream = f"http://127.0.0.1:{nginx.upstream_port}"
        gw = Sandbox(work, "gateway", f'[[gateway]]\nprefix = "/gw/"\nupstream = "{upstream}"\nstrip_prefix = true\nrequire_token = false\n'
                     f'[[gateway]]\nprefix = "/gwt/"\nupstream = "{upstream}"\nstrip_prefix = true\nscopes = ["api"]\n')
        procs.append(gw)
        gw_bearer = ["-H", f"Authorization: Bearer {gw.token()}"]
        R["gateway"] = {
            "nginx": repeat(a.reps, lambda: oha(nginx.gateway_url, a.secs, a.conns, *ps.mtls_args())),
            "mtls_only": repeat(a.reps, lambda: oha(gw.info["mtls_url"] + "/gw/banks/v1", a.secs, a.conns, *gw.mtls_args())),
            "bearer_jwt": repeat(a.reps, lambda: oha(gw.info["mtls_url"] + "/gwt/banks/v1", a.secs, a.conns, *gw.mtls_args(), *gw_bearer)),
        }
        gw.stop()
        procs.remove(gw)

        log("2c/5 behind your proxy: nginx terminates mTLS, forwards the certificate ...")
        R["behind_proxy"] = behind_proxy(work, a, nginx, ps, procs)

        log("3/5 token issuance over kept-alive connections ...")
        mock = MockServer(ps)
        procs.append(mock)
        form = ["-m", "POST", "-T", "application/x-www-form-urlencoded"]
        tokens = {"oauth2-mock-server (RS256)": repeat(a.reps, lambda: oha(mock.base + "/token", a.secs, a.conns, *form, "-d", "grant_type=client_credentials", "--cacert", ps.info["ca_chain"]))}
        for name, sb in (("PS256", ps), ("ES256", es)):
            secret = f"grant_type=client_credentials&client_id={sb.info['client_id']}&client_secret={sb.info['client_secret']}"
            tokens[f"{name} client_secret_post"] = repeat(a.reps, lambda: oha(sb.info["token_endpoint"], a.secs, a.conns, *form, "-d", secret, "--cacert", sb.info["ca_chain"]))
            tokens[f"{name} tls_client_auth"] = repeat(a.reps, lambda: oha(sb.info["mtls_token_endpoint"], a.secs, a.conns, *form, "-d", "grant_type=client_credentials&client_id=bench-mtls", *sb.mtls_args()))
        R["tokens"] = tokens
        R["openssl_sign_per_s"] = {"rsa2048": openssl_speed("rsa2048"), "ecdsap256": openssl_speed("ecdsap256")}
        R["mock_start_ms"] = mock.start_ms
        mock.stop()
        procs.remove(mock)
        mock_starts = []
        for _ in range(a.reps):
            m = MockServer(ps)
            mock_starts.append(m.start_ms)
            m.stop()
        R["mock_start_ms"] = statistics.median(mock_starts)

        log("4/5 start-up ...")
        R |= startup(work, 10)

        from apps import APPS, many_apps
        log(f"4b/5 {APPS} applications: keep-alive app token vs one application, start to ready ...")
        R["apps"] = many_apps(work, a, procs, 3)

        log("5/5 memory ...")
        (R["rss_idle_mib"], R["rss_1000_conns_mib"],
         R["rss_anon_idle_mib"], R["rss_anon_1000_conns_mib"]) = memory(work, "memory")
        # And a sandbox that has just served the token benchmarks.
        R["rss_after_load_mib"] = rss_mib(es.proc.pid)
    finally:
        for p in reversed(procs):
            p.stop()

    report(R)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in ("latest.json", f"results-{stamp}.json"):
        (OUT / name).write_text(json.dumps(R, indent=2))
    log(f"\nwritten: {OUT / 'latest.json'}")


def report(R):
    k, h, t = R["keepalive"], R["handshake"], R["tokens"]
    rsa, ec = R["openssl_sign_per_s"]["rsa2048"], R["openssl_sign_per_s"]["ecdsap256"]
    mock = t["oauth2-mock-server (RS256)"]["rps"]
    row = lambda name, v, ref, target: print(f"| {name:<44} | {v:>10,.0f} | {ref:>10,.0f} | {v / ref:>6.2f}x | {target:<8} |")
    print(f"\nmtls-sandbox bench — {R['machine']['cores']} cores, median of {R['settings']['reps']} x {R['settings']['secs']}s, "
          f"oha -c {R['settings']['conns']}, payload {R['payload_bytes']} B\n")
    print(f"| {'measure (per second)':<44} | {'sandbox':>10} | {'reference':>10} | {'ratio':>7} | target   |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 12}|{'-' * 9}|{'-' * 10}|")
    row("keep-alive mTLS, app token (ref: nginx)", k["app_token"]["rps"], k["nginx"]["rps"], ">= 1.15x")
    row("keep-alive mTLS, bearer JWT (ref: nginx)", k["bearer_jwt"]["rps"], k["nginx"]["rps"], ">= 1.0x")
    row("  ... app token, a fault rule installed (ref: none)", k["app_token_nonmatching_fault"]["rps"], k["app_token"]["rps"], "~ 1.0x")
    if "app_token_inspector_off" in k:
        row("  ... app token, inspector on (ref: --inspect 0)", k["app_token"]["rps"], k["app_token_inspector_off"]["rps"], "~ 1.0x")
    row("full handshake per request (ref: nginx)", h["app_token"]["rps"], h["nginx"]["rps"], ">= 2.5x")
    g = R["gateway"]
    row("gateway, mTLS + cert header (ref: nginx)", g["mtls_only"]["rps"], g["nginx"]["rps"], ">= 1.0x")
    row("gateway, + bearer JWT check (ref: nginx)", g["bearer_jwt"]["rps"], g["nginx"]["rps"], ">= 1.0x")
    if "behind_proxy" in R:
        b = R["behind_proxy"]
        row("behind nginx, keep-alive, app token (ref: nginx)", b["through_nginx"]["rps"], b["nginx"]["rps"], "")
    for alg, ref, refname, target in (("PS256", rsa, "RSA-2048 sign", ">= 0.85x"), ("ES256", mock, "mock server", ">= 15x")):
        for method in ("client_secret_post", "tls_client_auth"):
            row(f"{alg} tokens, {method} (ref: {refname})", t[f"{alg} {method}"]["rps"], ref, target)
    print(f"\n| latency (ms) p50 / p99        | sandbox            | nginx              |")
    for name, group, ref in (("keep-alive, app token", k["app_token"], k["nginx"]),
                             ("keep-alive, bearer JWT", k["bearer_jwt"], k["nginx"]),
                             ("full handshake", h["app_token"], h["nginx"]),
                             ("gateway, mTLS + cert header", g["mtls_only"], g["nginx"])):
        print(f"| {name:<29} | {group['p50_ms']:6.2f} / {group['p99_ms']:7.2f} | {ref['p50_ms']:6.2f} / {ref['p99_ms']:7.2f} |")
    print(f"\nopenssl speed -multi {R['machine']['cores']}: rsa2048 {rsa:,.0f} sign/s, ecdsap256 {ec:,.0f} sign/s; "
          f"oauth2-mock-server RS256 tokens {mock:,.0f}/s")
    print(f"start to ready: {startup_line(R)}; oauth2-mock-server {R['mock_start_ms']:.0f} ms")
    if "apps" in R:
        from apps import report_apps
        report_apps(R["apps"])
    print(f"RSS: idle {R['rss_idle_mib']:.1f} MiB (target <= 16 MB = 15.3 MiB), 1,000 open mTLS connections "
          f"{R['rss_1000_conns_mib']:.1f} MiB (target <= 48 MB = 45.8 MiB); after the token benchmarks {R['rss_after_load_mib']:.1f} MiB")


if __name__ == "__main__":
    main()
