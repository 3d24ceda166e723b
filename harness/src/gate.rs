//! Turns on a shared sandbox: files played at once ([`crate::parallel`])
//! each as their own application, except for what every application shares
//! ([`shared_by_step`]: the sandbox clock, the signing key, fault rules for
//! everyone). A file that changes one of those plays beside the others up
//! to that step, then waits until every file already playing has ended and
//! plays the rest alone; files not yet started wait for it. Such files take
//! their turns one after another from their start, so none is left
//! holding tokens another one's key rotation just made worthless.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::scenario::Step;
use crate::shared::shared_by_step;

/// The turns of one parallel run.
#[derive(Clone, Default)]
pub struct Gate {
    /// Held shared by every file playing beside the others, exclusively by
    /// a file from its first shared step.
    playing: Arc<RwLock<()>>,
    /// Held by a file that shares something, from start to end.
    sharing: Arc<Mutex<()>>,
}

/// A file's place in the run, held while it plays.
pub enum Pass {
    /// A file that shares nothing.
    Beside(OwnedRwLockReadGuard<()>),
    /// A file that shares something: its turn among such files, and once
    /// it reached its first shared step, the sandbox to itself.
    Sharing {
        playing: Arc<RwLock<()>>,
        _turn: OwnedMutexGuard<()>,
        alone: Option<OwnedRwLockWriteGuard<()>>,
    },
}

impl Gate {
    /// Waits for a file's place: `shares` when some step of it changes what
    /// every application shares.
    pub async fn enter(&self, shares: bool) -> Pass {
        if !shares {
            return Pass::Beside(self.playing.clone().read_owned().await);
        }
        Pass::Sharing {
            playing: self.playing.clone(),
            _turn: self.sharing.clone().lock_owned().await,
            alone: None,
        }
    }
}

impl Pass {
    /// Before each step: at the file's first shared step, waits until the
    /// files playing beside it have ended.
    pub async fn before(&mut self, step: &Step) {
        if let Pass::Sharing { playing, alone, .. } = self
            && alone.is_none()
            && shared_by_step(step).is_some()
        {
            *alone = Some(playing.clone().write_owned().await);
        }
    }

    /// Whether the file plays alone now.
    pub fn alone(&self) -> bool {
        matches!(self, Pass::Sharing { alone: Some(_), .. })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::scenario::Scenario;

    fn steps(toml: &str) -> Vec<Step> {
        Scenario::parse(&format!("name = \"s\"\n{toml}"), Path::new("s.toml"))
            .unwrap()
            .steps
    }

    const OWN: &str = "[[step]]\nsay = \"own\"\npath = \"/banks/v1\"\nexpect = { status = 200 }\n";
    const CLOCK: &str = "[[step]]\nsay = \"clock\"\nhost = \"auth\"\npath = \"/admin/clock\"\n\
                         json = { advance = \"1m\" }\nexpect = { status = 200 }\n";

    #[tokio::test]
    async fn a_shared_step_waits_for_the_files_playing_and_later_files_wait_for_it() {
        let gate = Gate::default();
        let beside = gate.enter(false).await;
        let mut sharing = gate.enter(true).await;
        let own = &steps(OWN)[0];
        sharing.before(own).await;
        assert!(!sharing.alone(), "its own steps play beside the others");

        let clock = steps(CLOCK).remove(0);
        let waiting = tokio::spawn(async move {
            sharing.before(&clock).await;
            sharing
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the shared step waits for the file playing beside it"
        );
        let gate2 = gate.clone();
        let later = tokio::spawn(async move { gate2.enter(false).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!later.is_finished(), "a file starting now waits behind the shared step");

        drop(beside);
        let sharing = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(sharing.alone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !later.is_finished(),
            "nor does it start while the sharing file plays alone"
        );
        drop(sharing);
        tokio::time::timeout(Duration::from_secs(5), later)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn files_that_share_take_turns_from_their_start() {
        let gate = Gate::default();
        let first = gate.enter(true).await;
        let gate2 = gate.clone();
        let second = tokio::spawn(async move { gate2.enter(true).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap();
    }
}
