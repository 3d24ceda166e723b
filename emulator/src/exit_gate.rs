//! Threads that outlive `main` must not draw their first random bytes from
//! aws-lc once the process has begun to exit.
//!
//! Why: at exit, a destructor of aws-lc's zeroises every thread's random
//! generator and write-locks it for good, so that no thread can draw from
//! it afterwards. A thread that has drawn before then only blocks in its
//! next draw until the process is gone. But a thread whose *first* draw
//! comes after that gets a generator already write-locked by itself; glibc
//! refuses the read lock that follows (EDEADLK) and aws-lc aborts (the
//! path aws-lc added for threads registering after shutdown began, in its
//! fix of aws/aws-lc#3197, promises a thread that blocks instead). `up`
//! stopped by SIGTERM at the moment of readiness died of SIGABRT in 2 of 40
//! runs on a loaded machine: the core showed the key pool's refill thread
//! (started at readiness, at nice 19) in its first `RAND_bytes`, and the
//! main thread in `exit`.
//!
//! So a detached thread makes its first draw through [`ExitGate::pass`],
//! and `main` closes the gate before it returns. Threads that are joined
//! before exit (tokio's blocking pool, the signing key's generation) need
//! no gate.

use std::sync::Mutex;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The process's gate, closed by [`close_for_exit`].
static PROCESS: ExitGate = ExitGate::new();

/// Open until the process begins to exit.
pub struct ExitGate {
    closed: Mutex<bool>,
}

impl ExitGate {
    pub const fn new() -> Self {
        ExitGate {
            closed: Mutex::new(false),
        }
    }

    /// Makes the calling thread's first draw from aws-lc, unless the gate is
    /// closed; returns whether it did. A thread that gets `false` must not
    /// use aws-lc at all.
    pub fn pass(&self) -> bool {
        let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return false;
        }
        // The draw registers this thread's generator with aws-lc; its bytes
        // are not used. It cannot fail on Linux (getrandom); if it did, the
        // thread's next draw would register it instead, as without a gate.
        let _ = SystemRandom::new().fill(&mut [0u8; 1]);
        true
    }

    /// Closes the gate; waits for a thread inside [`pass`](Self::pass)
    /// to leave first.
    pub fn close(&self) {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }
}

impl Default for ExitGate {
    fn default() -> Self {
        Self::new()
    }
}

/// [`ExitGate::pass`] on the process's gate.
pub fn pass() -> bool {
    PROCESS.pass()
}

/// Closes the process's gate: call when `main` is about to return or to
/// call `exit`.
pub fn close_for_exit() {
    PROCESS.close();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::ExitGate;

    #[test]
    fn an_open_gate_lets_threads_pass_and_a_closed_one_none() {
        let gate = ExitGate::new();
        assert!(gate.pass());
        assert!(std::thread::spawn(move || gate.pass()).join().unwrap());
        let gate = ExitGate::new();
        gate.close();
        assert!(!gate.pass());
        assert!(!std::thread::scope(|s| s.spawn(|| gate.pass()).join().unwrap()));
    }

    /// `close` returns only after a thread that was passing has left, so
    /// nothing passes after `main` starts to exit.
    #[test]
    fn closing_waits_for_a_thread_inside_the_gate() {
        let gate = Arc::new(ExitGate::new());
        let inside = gate.closed.lock().unwrap(); // a thread inside `pass`
        let closed = Arc::new(AtomicBool::new(false));
        let closer = {
            let (gate, closed) = (gate.clone(), closed.clone());
            std::thread::spawn(move || {
                gate.close();
                closed.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !closed.load(Ordering::SeqCst),
            "close returned while a thread was inside"
        );
        drop(inside);
        closer.join().unwrap();
        assert!(closed.load(Ordering::SeqCst));
        assert!(!gate.pass());
    }
}
