//! Shared set-up for the criterion benchmarks in `benches/`: repositories of
//! a given size in the in-memory store, and typical records.

use std::collections::BTreeMap;

use primal_pds_engine::Ipld;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo};
use primal_pds_engine::store::MemoryStore;
use primal_pds_engine::syntax::{Datetime, Did, Nsid, RecordKey, TidClock};

/// The collection every benchmark record goes in.
pub const POST: &str = "app.bsky.feed.post";

/// A post record like the Bluesky app writes: text, a language, a timestamp.
pub fn post_record(i: u64) -> Ipld {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(POST.to_owned()));
    map.insert(
        "text".to_owned(),
        Ipld::String(format!("Post number {i}: the quick brown fox jumps over the lazy dog. #atproto")),
    );
    map.insert("langs".to_owned(), Ipld::List(vec![Ipld::String("en".to_owned())]));
    map.insert("createdAt".to_owned(), Ipld::String(Datetime::now().to_string()));
    Ipld::Map(map)
}

/// A create of a post with a fresh TID record key.
pub fn create_post(clock: &TidClock, i: u64) -> RecordWrite {
    let collection = Nsid::parse(POST).expect("valid NSID");
    let rkey = RecordKey::parse(clock.next().as_str()).expect("a TID is a valid record key");
    RecordWrite::create(collection, rkey, post_record(i))
}

/// A repository of `records` posts in a fresh in-memory store.
pub struct BenchRepo {
    /// The store holding the repo.
    pub store: MemoryStore,
    /// The repo, with its node cache warm.
    pub repo: Repo,
    /// The signing key.
    pub key: Keypair,
    /// The rev/rkey clock.
    pub clock: TidClock,
    /// The repo's DID.
    pub did: Did,
}

impl BenchRepo {
    /// Build a repo of `records` posts, written in batches of 200.
    pub async fn build(records: u64) -> BenchRepo {
        let store = MemoryStore::new();
        let key = Keypair::generate(Algorithm::K256);
        let clock = TidClock::new();
        let did = Did::parse("did:plc:benchbenchbenchbenchbenc").expect("valid DID");
        let (mut repo, _) = Repo::create(&store, &did, &key, &clock).await.expect("create repo");
        let mut i = 0;
        while i < records {
            let n = (records - i).min(200);
            let writes = (i..i + n).map(|j| create_post(&clock, j)).collect();
            repo.apply_writes(&store, &key, &clock, writes, None).await.expect("apply writes");
            i += n;
        }
        BenchRepo { store, repo, key, clock, did }
    }
}
