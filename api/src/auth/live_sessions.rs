//! [`LiveSessions`]: which sessions were recently seen alive, so that an
//! access token's session (its `sid`, checked against the tenant's refresh
//! tokens on every request) does not cost a database query on every request.
//!
//! Only "alive" answers are kept, each for [`TTL`]. This node forgets a
//! session at once when it ends it here (deleteSession, revokeAppPassword,
//! account deletion); a session ended on another node stops working here
//! within [`TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use primal_pds_engine::syntax::Did;

/// How long a session seen alive is trusted without asking the database.
pub const TTL: Duration = Duration::from_secs(5);

/// Entries kept at most; the map is emptied when it would grow beyond.
const MAX_ENTRIES: usize = 100_000;

/// Session id → (account, time it was seen alive).
#[derive(Debug, Default)]
pub struct LiveSessions {
    seen: Mutex<HashMap<String, (Did, Instant)>>,
}

impl LiveSessions {
    /// An empty cache.
    pub fn new() -> LiveSessions {
        LiveSessions::default()
    }

    /// Whether the session `sid` of `did` was seen alive less than [`TTL`] ago.
    pub fn is_fresh(&self, did: &Did, sid: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(sid).is_some_and(|(owner, at)| owner == did && at.elapsed() < TTL)
    }

    /// Remember that the session `sid` of `did` is alive now.
    pub fn put(&self, did: &Did, sid: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(sid.to_string(), (did.clone(), Instant::now()));
    }

    /// Forget one session (it was ended).
    pub fn forget(&self, sid: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(sid);
    }

    /// Forget every session of an account (some of them were ended).
    pub fn forget_account(&self, did: &Did) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (owner, _)| owner != did);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_forget_and_owner() {
        let (alice, bob) =
            (Did::parse("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").unwrap(), Did::parse("did:web:b.test").unwrap());
        let live = LiveSessions::new();
        assert!(!live.is_fresh(&alice, "s1"));
        live.put(&alice, "s1");
        live.put(&alice, "s2");
        live.put(&bob, "s3");
        assert!(live.is_fresh(&alice, "s1"));
        assert!(!live.is_fresh(&bob, "s1"), "another account's session");
        live.forget("s1");
        assert!(!live.is_fresh(&alice, "s1"));
        live.forget_account(&alice);
        assert!(!live.is_fresh(&alice, "s2"));
        assert!(live.is_fresh(&bob, "s3"));
    }
}
