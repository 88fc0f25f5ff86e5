//! [`PerIpSlots`]: how many `subscribeRepos` connections each client IP
//! holds, capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open subscriptions per client IP, at most `limit` each.
#[derive(Debug)]
pub struct PerIpSlots {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open subscription of an IP; dropping it frees the slot.
#[derive(Debug)]
pub struct IpSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIpSlots {
    /// At most `limit` subscriptions per IP.
    pub fn new(limit: usize) -> PerIpSlots {
        PerIpSlots { limit, open: Arc::default() }
    }

    /// A slot for `ip`, or `None` when it holds `limit` already.
    pub fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot { ip, open: self.open.clone() })
    }

    /// Subscriptions `ip` holds.
    pub fn held(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_per_ip_and_freed_on_drop() {
        let slots = PerIpSlots::new(2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let first = slots.take(a).expect("first");
        let _second = slots.take(a).expect("second");
        assert!(slots.take(a).is_none());
        assert!(slots.take(b).is_some(), "other IPs have their own slots");
        drop(first);
        assert_eq!(slots.held(a), 1);
        assert!(slots.take(a).is_some());
    }
}
