//! Code layout of the `mtls-sandbox` binary: the functions a start, an idle
//! sandbox and the common requests run (`link-order.txt`, made by
//! `python3 bench/link_order.py`) are placed first and side by side.
//!
//! Why: the kernel maps a touched code page together with the clean pages
//! around it (fault-around, 64 KB). Spread over the whole 14.5 MB of code,
//! the 3.7 MB of functions listed kept 11.8 MB of it resident; side by side
//! they keep 4.3 MB (`bench/run.py --only rss`: idle 19.0 -> 11.8 MiB, 1,000
//! open mTLS connections 52.2 -> 46.0 MiB). The instructions are the same,
//! only their addresses move. A stale list (a toolchain or dependency update
//! moves the symbol hashes) only lays out less: rerun `just link-order`.
//!
//! Only where the linker is known to be LLD (`--symbol-ordering-file` is
//! its option): x86_64 Linux with glibc on Rust 1.90 or later, the linker
//! not overridden. Elsewhere the binary is linked as before.
//! `MTLS_SANDBOX_LINK_ORDER=off` turns it off.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=MTLS_SANDBOX_LINK_ORDER");
    if !links_with_rust_lld() || env::var("MTLS_SANDBOX_LINK_ORDER").is_ok_and(|v| v == "off") {
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&dir).join("link-order.txt");
    let Some(order) = order.to_str().filter(|p| !p.contains(',')) else {
        return; // -Wl, would split the path at its commas
    };
    println!("cargo:rustc-link-arg-bin=mtls-sandbox=-Wl,--symbol-ordering-file={order}");
    // A name the binary no longer has (a stale list) is not worth a warning.
    println!("cargo:rustc-link-arg-bin=mtls-sandbox=-Wl,--no-warn-symbol-ordering");
}

/// Rust links x86_64-unknown-linux-gnu binaries with its own LLD since 1.90,
/// unless a linker or linker flavour was chosen.
fn links_with_rust_lld() -> bool {
    if env::var("TARGET").ok().as_deref() != Some("x86_64-unknown-linux-gnu") || env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("link-self-contained") || flags.contains("fuse-ld") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let minor = text
        .lines()
        .find_map(|l| l.strip_prefix("release: 1."))
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
