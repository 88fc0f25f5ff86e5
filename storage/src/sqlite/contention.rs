//! A fair hand-off between writers racing on one repo.
//!
//! Writers of one repo race optimistically: each builds a commit on the
//! root it read, and the root compare-and-swap lets one win; the losers
//! re-read the root, rebuild, and try again (the engine gives up after a
//! fixed number of attempts). Writes to a tenant queue first come, first
//! served on its single write connection, and that alone is unfair: the
//! winner already holds the new tree and signs its next commit while the
//! losers are still learning they lost, so it is back in the queue first
//! and wins again, round after round, until a loser runs out of attempts.
//!
//! So a commit that wins a contended race (commits of the same repo lost
//! since the previous win) waits a moment before returning, after its
//! transaction is over, giving the losers time to queue their rebuilt
//! commits ahead of the winner's next one: the repo's writers take turns.
//! Uncontended commits (the normal case: one writer per repo) never wait.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use primal_pds_engine::syntax::Did;

/// Wait per commit lost since the previous win: about what a loser needs
/// to re-read the root, rebuild and sign its commit.
const PER_LOSER: Duration = Duration::from_millis(1);

/// The longest a winner waits.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Repos tracked at most; beyond, the counts start over (a loser that gave
/// up leaves its count until the repo's next win).
const MAX_TRACKED: usize = 10_000;

/// Commits lost per repo since that repo's last winning commit.
#[derive(Debug, Default)]
pub(crate) struct Contention {
    lost: Mutex<HashMap<(String, Did), u32>>,
}

impl Contention {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, Did), u32>> {
        // Only counters: a panic cannot leave them inconsistent.
        self.lost.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A commit of `repo` in tenant `db_name` lost the root race.
    pub fn lost(&self, db_name: &str, repo: &Did) {
        let mut lost = self.lock();
        if lost.len() >= MAX_TRACKED {
            lost.clear();
        }
        *lost.entry((db_name.to_owned(), repo.clone())).or_insert(0) += 1;
    }

    /// A commit of `repo` won: if others lost since the last win, wait for
    /// them to queue again before the winner can write its next commit.
    pub async fn won(&self, db_name: &str, repo: &Did) {
        let losers = {
            let mut lost = self.lock();
            if lost.is_empty() {
                return;
            }
            lost.remove(&(db_name.to_owned(), repo.clone())).unwrap_or(0)
        };
        if losers > 0 {
            tokio::time::sleep((PER_LOSER * losers).min(MAX_WAIT)).await;
        }
    }
}
