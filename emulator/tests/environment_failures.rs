//! Issue #15, "Hold under load": the sandbox's own environment failing — a
//! full disk under the state dir, a read-only state dir, a hostile
//! `jwks_uri`, an upstream that stalls mid-body, the clock set backwards.
//! Each case must end in a clear error within a bounded time, keep serving
//! everything else, and lose nothing already stored. Each test prints the
//! time it took to get the error (`--nocapture` shows them).

mod gateway_stall;

use std::time::{Duration, Instant};

/// Runs `f`, asserting it finishes within `bound`; prints and returns how
/// long it took along with its result.
pub fn timed<T>(what: &str, bound: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    println!("{what}: {} ms", took.as_millis());
    assert!(took < bound, "{what} took {took:?}, more than {bound:?}");
    (out, took)
}
