//! Where a new tenant database goes: the configured server holding the
//! fewest tenants (as the management database's `domains` table counts
//! them), the first listed on a tie. Existing tenants never move, so adding
//! a server to the configuration sends new tenants to it until it has caught
//! up with the others.

use std::collections::HashMap;

/// Index (into `servers`, in configuration order) of the server with the
/// fewest tenants according to `counts` (server name → tenants; absent means
/// none); `None` when no server is listed.
pub(crate) fn least_loaded<'a>(
    servers: impl IntoIterator<Item = &'a str>,
    counts: &HashMap<String, i64>,
) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    for (index, name) in servers.into_iter().enumerate() {
        let load = counts.get(name).copied().unwrap_or(0);
        if best.is_none_or(|(_, fewest)| load < fewest) {
            best = Some((index, load));
        }
    }
    best.map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, i64)]) -> HashMap<String, i64> {
        pairs.iter().map(|(name, n)| ((*name).to_owned(), *n)).collect()
    }

    #[test]
    fn fewest_tenants_wins_first_on_a_tie() {
        let servers = ["a", "b", "c"];
        assert_eq!(least_loaded(servers, &counts(&[])), Some(0));
        assert_eq!(least_loaded(servers, &counts(&[("a", 1)])), Some(1));
        assert_eq!(least_loaded(servers, &counts(&[("a", 1), ("b", 1)])), Some(2));
        assert_eq!(least_loaded(servers, &counts(&[("a", 3), ("b", 2), ("c", 2)])), Some(1));
        // Tenants on servers no longer configured do not count.
        assert_eq!(least_loaded(servers, &counts(&[("gone", 0), ("a", 5), ("b", 5), ("c", 4)])), Some(2));
        assert_eq!(least_loaded([], &counts(&[("a", 1)])), None);
    }

    #[test]
    fn a_new_server_fills_up_first() {
        let mut load = counts(&[("a", 10)]);
        let mut placed = Vec::new();
        for _ in 0..12 {
            let name = match least_loaded(["a", "b"], &load) {
                Some(0) => "a",
                _ => "b",
            };
            *load.entry(name.to_owned()).or_default() += 1;
            placed.push(name);
        }
        assert_eq!(placed[..10], ["b"; 10]);
        assert_eq!(load["a"], 11);
        assert_eq!(load["b"], 11);
    }
}
