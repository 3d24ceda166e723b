"""The many-applications row (issue #17, `python3 bench/run.py --only apps`, also a
step of the full run): keep-alive mTLS app-token calls as one of APPS
applications against the same calls on a one-application sandbox, then start
to ready with APPS applications."""

import json
import time
from pathlib import Path

from run import Sandbox, interleaved, oha, startup, startup_line


class AppView:
    """One application of a running sandbox, as its own `apps/<name>/sandbox.json`
    describes it: its certificate, key and app token."""

    def __init__(self, work, sandbox, name):
        self.info = json.loads((sandbox.dir / "apps" / name / "sandbox.json").read_text())
        self.fullchain = work / f"{name}-fullchain.pem"
        self.fullchain.write_text(Path(self.info["client_cert"]).read_text() + Path(self.info["ca_chain"]).read_text())

    mtls_args = Sandbox.mtls_args


APPS = 100


def many_apps(work, a, procs, start_reps):
    """Issue #17: keep-alive mTLS app-token calls as one application of a
    sandbox holding APPS of them (`up --apps`), against the same calls on a
    sandbox with the default application only; the repetitions of the two
    interleave, so load from elsewhere on the machine hits both alike. Then
    start to ready with APPS applications, cold and warm."""
    one = Sandbox(work, "one-app")
    procs.append(one)
    t0 = time.perf_counter()
    many = Sandbox(work, "many-apps", extra=["--apps", str(APPS)], timeout="600s")
    create_s = time.perf_counter() - t0
    procs.append(many)
    caller = AppView(work, many, f"attendee-{APPS // 2}")
    url = lambda info: info["mtls_url"] + "/banks/v1"
    one_hdr = ["-H", f"lean-app-token: {one.info['app_token']}"]
    many_hdr = ["-H", f"lean-app-token: {caller.info['app_token']}"]
    result = {"apps": APPS, "first_start_s": create_s} | interleaved(a.reps, {
        "one_app": lambda: oha(url(one.info), a.secs, a.conns, *one.mtls_args(), *one_hdr),
        "many_apps": lambda: oha(url(caller.info), a.secs, a.conns, *caller.mtls_args(), *many_hdr),
    })
    for p in (many, one):
        p.stop()
        procs.remove(p)
    result |= startup(work, start_reps, ["--apps", str(APPS)], "apps-cold")
    return result


def report_apps(m):
    ratio = m["many_apps"]["rps"] / m["one_app"]["rps"]
    print(f"keep-alive mTLS, app token, as one of {m['apps']} applications: {m['many_apps']['rps']:,.0f}/s "
          f"(p50 {m['many_apps']['p50_ms']:.2f} ms, runs {m['many_apps']['runs']}); one application: "
          f"{m['one_app']['rps']:,.0f}/s (p50 {m['one_app']['p50_ms']:.2f} ms, runs {m['one_app']['runs']}); "
          f"ratio {ratio:.2f}x (target ~ 1.0x)")
    print(f"start to ready with {m['apps']} applications: {startup_line(m)}")
