//! [`Registry`]: the open connections, so that the one idle the longest
//! can be closed when a new connection needs its slot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::tracker::Tracker;

/// Every connection being served, by id.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Tracker>>>,
}

impl Registry {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, Arc<Tracker>>> {
        // A map of handles: consistent under any panic.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add a connection; it leaves the registry when the returned
    /// registration is dropped.
    pub fn register(self: &Arc<Self>, tracker: Arc<Tracker>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.live().insert(id, tracker);
        Registration { registry: self.clone(), id }
    }

    /// Connections being served.
    pub fn len(&self) -> usize {
        self.live().len()
    }

    /// Whether no connection is being served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Close the connection that has been waiting (idle) the longest;
    /// `false` when none is waiting. Linear in the open connections: called
    /// only when a new connection finds every slot taken.
    pub fn evict_longest_idle(&self) -> bool {
        loop {
            let longest = {
                let live = self.live();
                let idle = live.values().filter_map(|t| Some((t.waiting_since()?, t)));
                idle.min_by_key(|(since, _)| *since).map(|(_, t)| t.clone())
            };
            match longest {
                None => return false,
                Some(tracker) if tracker.evict() => return true,
                // It started a request since it was looked at: look again.
                Some(_) => {}
            }
        }
    }
}

/// A connection's place in the [`Registry`], released on drop.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.live().remove(&self.id);
    }
}
