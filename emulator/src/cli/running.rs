//! The running sandbox of a state dir, from the outside: `status`, `down`
//! and `wait` (see `crate::instance` for the lock they read).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::output::out;
use super::{Failure, GlobalArgs};
use crate::instance::{self, Instance};
use crate::state::files;

/// `status` exit code when nothing runs (as LSB init scripts use it).
const NOT_RUNNING: i32 = 3;

pub fn status(global: &GlobalArgs, json: bool) -> Result<(), Failure> {
    let dir = global.state_dir()?;
    let running = instance::probe(&dir);
    let uptime = running.as_ref().and_then(|_| uptime(&dir));
    if json {
        let mut doc = json!({ "running": running.is_some(), "state_dir": dir });
        if let Some(Instance { pid, info }) = &running {
            doc["pid"] = json!(pid);
            doc["uptime_seconds"] = json!(uptime.map(|u| u.as_secs()));
            doc["ready"] = json!(info.is_some());
            if let Some(info) = info {
                let fields = serde_json::to_value(info).expect("SandboxInfo serialises");
                for (k, v) in fields.as_object().expect("an object") {
                    doc[k] = v.clone();
                }
            }
        }
        out!("{}", serde_json::to_string_pretty(&doc).expect("JSON serialises"));
    } else {
        match &running {
            None => out!("No sandbox is running for {}.", dir.display()),
            Some(Instance { pid, info }) => {
                let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
                let uptime = uptime.map(human).unwrap_or_else(|| "?".into());
                out!("A sandbox is running for {} (pid {pid}, up {uptime}).", dir.display());
                match info {
                    Some(info) => {
                        out!("  sandbox  {}", info.sandbox_url);
                        out!("  mtls     {}", info.mtls_url);
                        out!("  auth     {}", info.auth_url);
                        if let Some(portal) = &info.portal_url {
                            out!("  portal   {portal}");
                        }
                        if let Some(clock) = &info.clock {
                            out!("  clock    {clock}");
                        }
                        if let Some(proxy) = &info.behind_proxy {
                            out!("  proxy    behind your proxy: {proxy}");
                        }
                    }
                    None => out!("  It is still starting (no sandbox.json yet)."),
                }
            }
        }
    }
    match running {
        Some(_) => Ok(()),
        None => Err(Failure {
            code: NOT_RUNNING,
            error: anyhow::anyhow!("not running (start it with `mtls-sandbox up`)"),
        }),
    }
}

/// Since the lock was taken: its holder rewrote the file then.
fn uptime(dir: &Path) -> Option<Duration> {
    let started = std::fs::metadata(dir.join(files::LOCK))
        .and_then(|m| m.modified())
        .ok()?;
    SystemTime::now().duration_since(started).ok()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub async fn down(global: &GlobalArgs, timeout: Duration) -> Result<(), Failure> {
    let dir = global.state_dir()?;
    let Some(Instance { pid, info }) = instance::probe(&dir) else {
        out!("No sandbox is running for {}.", dir.display());
        return Ok(());
    };
    let pid = pid.ok_or_else(|| {
        anyhow::anyhow!(
            "{} is locked but names no pid; stop the sandbox with Ctrl-C in its terminal",
            dir.display()
        )
    })?;
    terminate(pid)?;
    let ports: Vec<u16> = info.iter().flat_map(ports_of).collect();
    let deadline = Instant::now() + timeout;
    while instance::probe(&dir).is_some() || ports.iter().any(|&p| in_use(p)) {
        if Instant::now() >= deadline {
            return Err(anyhow::anyhow!(
                "the sandbox (pid {pid}) did not stop within {timeout:?}; it may still be finishing requests. \
                 Force it with `kill -9 {pid}`"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    out!(
        "Stopped the sandbox for {} (pid {pid}); its ports are free.",
        dir.display()
    );
    Ok(())
}

fn terminate(pid: u32) -> Result<(), Failure> {
    let pid = i32::try_from(pid).map_err(|_| anyhow::anyhow!("pid {pid} is out of range"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(anyhow::anyhow!("cannot stop the sandbox (pid {pid}): {e}").into());
    }
    Ok(())
}

/// The listening ports of a running sandbox, from its URLs.
fn ports_of(info: &crate::info::SandboxInfo) -> Vec<u16> {
    [&info.sandbox_url, &info.mtls_url, &info.auth_url]
        .iter()
        .filter_map(|url| url.rsplit(':').next()?.parse().ok())
        .collect()
}

/// Whether something still accepts connections on loopback `port`.
fn in_use(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

pub async fn wait(global: &GlobalArgs, timeout: Duration) -> Result<(), Failure> {
    // The state dir may not exist yet: `up &` is still creating it.
    let dir = global.state_dir_or_new();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(info) = instance::probe(&dir).and_then(|r| r.info) {
            out!("ready: {}", info.sandbox_url);
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(anyhow::anyhow!(
                "no sandbox became ready for {} within {timeout:?}. Is `mtls-sandbox up --state-dir {0}` running? \
                 Check its log.",
                dir.display()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
