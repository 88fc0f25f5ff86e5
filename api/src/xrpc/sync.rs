//! `com.atproto.sync.*` (the read side; the firehose lives elsewhere):
//! getRepo (streamed CAR, whole or `since` a rev), getLatestCommit,
//! getRecord (a record with its MST proof), getBlocks, listRepos,
//! getRepoStatus (specs/sync.md). Unavailable accounts answer with the
//! status errors of [`crate::repo_access`].
//!
//! listRepos lists the repos of the hosted domain serving the `Host`
//! header (each hosted domain is its own PDS host behind Traefik, and the
//! host relays are asked to crawl); on a host that is not a hosted domain
//! (e.g. the bare service address) the list is empty, so no one enumerates
//! every domain's accounts from there.

use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use poem::web::Data;
use poem::{Body, Request};
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use primal_pds_engine::car::{encode_block_into, encode_header};
use primal_pds_engine::mst::{self, LoadError, NodeStore};
use primal_pds_engine::repo::{Repo, RepoError, export_car, export_diff_car};
use primal_pds_engine::store::{Blockstore, RootStore};
use primal_pds_engine::syntax::{Did, Handle, Tid};
use primal_pds_storage::{AccountStore, AnyStore, DomainName, TenantBackend};

use crate::error::{INTERNAL, XrpcError, storage_error};
use crate::repo_access::{repo_error, repo_not_found, wire_status};
use crate::request_host::request_host;
use crate::state::AppState;
use crate::xrpc::params;

/// Tags of this group.
#[derive(Tags)]
pub enum SyncTags {
    /// Repository synchronization.
    #[oai(rename = "com.atproto.sync")]
    Sync,
}

/// A CAR file response.
#[derive(ApiResponse)]
pub enum CarResponse {
    /// The CAR file (`application/vnd.ipld.car`).
    #[oai(status = 200, content_type = "application/vnd.ipld.car")]
    Car(Binary<Body>),
}

/// Output of `com.atproto.sync.getLatestCommit`.
#[derive(Debug, Object)]
pub struct LatestCommit {
    /// The current commit's CID.
    pub cid: String,
    /// The current commit's rev.
    pub rev: String,
}

/// `com.atproto.sync.listRepos#repo`.
#[derive(Debug, Object)]
pub struct ListedRepo {
    /// The repo's DID.
    pub did: String,
    /// The current commit's CID.
    pub head: String,
    /// The current commit's rev.
    pub rev: String,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<String>,
}

/// Output of `com.atproto.sync.listRepos`.
#[derive(Debug, Object)]
pub struct ListReposOutput {
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub cursor: Option<String>,
    /// The repos.
    pub repos: Vec<ListedRepo>,
}

/// Output of `com.atproto.sync.getRepoStatus`.
#[derive(Debug, Object)]
pub struct RepoStatusOutput {
    /// The repo's DID.
    pub did: String,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<String>,
    /// The current rev, when active.
    #[oai(skip_serializing_if_is_none)]
    pub rev: Option<String>,
}

fn internal(e: impl std::fmt::Display) -> XrpcError {
    XrpcError::internal(INTERNAL, &e)
}

fn car(body: Body) -> CarResponse {
    CarResponse::Car(Binary(body))
}

/// The CAR export of `did` as a streamed body. The first chunk is awaited
/// here, so a repo that cannot be exported is an XRPC error; a failure
/// later ends the body early (the client sees a truncated CAR).
async fn car_stream(store: AnyStore, did: Did, since: Option<Tid>) -> Result<Body, XrpcError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, RepoError>>(4);
    tokio::spawn(async move {
        let mut chunks = match &since {
            Some(since) => export_diff_car(&store, &did, since),
            None => export_car(&store, &did),
        };
        while let Some(chunk) = chunks.next().await {
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Err(repo_error(e)),
        None => return Err(internal("the CAR export ended before its header")),
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?.map_err(|e| {
            tracing::error!(error = %e, "repository export failed mid-stream");
            std::io::Error::other("repository export failed")
        });
        Some((item, rx))
    });
    Ok(Body::from_bytes_stream(futures::stream::once(async move { Ok(first) }).chain(rest)))
}

/// How many times a proof is rebuilt when a concurrent commit removed the
/// blocks it was reading.
const PROOF_ATTEMPTS: usize = 3;

/// The CAR proving `collection/rkey` present (with its record) or absent in
/// the current commit of `did`: the commit, the MST nodes on the key's
/// covering path, the record block.
async fn record_proof(store: &AnyStore, did: &Did, path: &str) -> Result<Vec<u8>, XrpcError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_record_proof(store, did, path).await {
            Err(RepoError::MissingBlock(_)) if attempt < PROOF_ATTEMPTS => continue,
            other => return other.map_err(repo_error),
        }
    }
}

async fn try_record_proof(store: &AnyStore, did: &Did, path: &str) -> Result<Vec<u8>, RepoError> {
    let repo = Repo::load(store, did).await?;
    let commit = repo.root().commit;
    let commit_bytes = store.get(did, &commit).await?.ok_or(RepoError::MissingBlock(commit))?;
    let data = *repo.data();
    let mut nodes = NodeStore::new();
    let key = path.as_bytes();
    let proof = mst::load(store, did, &mut nodes, |n| mst::covering_proof(n, &data, key)).await.map_err(load_error)?;
    let record = mst::load(store, did, &mut nodes, |n| mst::get(n, &data, key)).await.map_err(load_error)?;
    let mut out = encode_header(&[commit]);
    encode_block_into(&mut out, &commit, &commit_bytes);
    for cid in &proof {
        let bytes = nodes.block(cid).ok_or(RepoError::MissingBlock(*cid))?;
        encode_block_into(&mut out, cid, bytes);
    }
    if let Some(cid) = record {
        let bytes = store.get(did, &cid).await?.ok_or(RepoError::MissingBlock(cid))?;
        encode_block_into(&mut out, &cid, &bytes);
    }
    Ok(out)
}

fn load_error(e: LoadError) -> RepoError {
    RepoError::from(e)
}

/// A listRepos cursor: the domain and handle of the last repo listed.
fn parse_list_cursor(cursor: Option<&str>) -> Result<Option<(DomainName, String)>, XrpcError> {
    let Some(cursor) = cursor else { return Ok(None) };
    let (domain, handle) = cursor.split_once(' ').ok_or_else(|| XrpcError::invalid_request("Malformed cursor"))?;
    let malformed = || XrpcError::invalid_request("Malformed cursor");
    let domain = DomainName::parse(domain).map_err(|_| malformed())?;
    let handle = Handle::parse(handle).map_err(|_| malformed())?;
    Ok(Some((domain, handle.to_string())))
}

/// `com.atproto.sync.*`.
pub struct SyncApi;

#[OpenApi(tag = "SyncTags::Sync")]
impl SyncApi {
    /// Download a repository as a CAR file: the whole repo, or the blocks
    /// written after rev `since`. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.getRepo", method = "get")]
    async fn get_repo(
        &self,
        state: Data<&Arc<AppState>>,
        did: Query<String>,
        since: Query<Option<String>>,
    ) -> Result<CarResponse, XrpcError> {
        let since = since.0.as_deref().map(|s| params::tid("since", s)).transpose()?;
        let target = state.resolve_did_param(&did.0).await?;
        target.ensure_active()?;
        Ok(car(car_stream(target.store, target.did, since).await?))
    }

    /// The current commit CID and rev of a repo. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.getLatestCommit", method = "get")]
    async fn get_latest_commit(
        &self,
        state: Data<&Arc<AppState>>,
        did: Query<String>,
    ) -> Result<Json<LatestCommit>, XrpcError> {
        let target = state.resolve_did_param(&did.0).await?;
        target.ensure_active()?;
        let root = target.store.get_root(&target.did).await.map_err(internal)?;
        let root = root.ok_or_else(|| repo_not_found(target.did.as_str()))?;
        Ok(Json(LatestCommit { cid: root.commit.to_string(), rev: root.rev.to_string() }))
    }

    /// The blocks proving a record present (or absent) in the current
    /// commit, as a CAR rooted at the commit. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.getRecord", method = "get")]
    async fn get_record(
        &self,
        state: Data<&Arc<AppState>>,
        did: Query<String>,
        collection: Query<String>,
        rkey: Query<String>,
    ) -> Result<CarResponse, XrpcError> {
        let collection = params::nsid("collection", &collection.0)?;
        let rkey = params::record_key("rkey", &rkey.0)?;
        let target = state.resolve_did_param(&did.0).await?;
        target.ensure_active()?;
        let proof = record_proof(&target.store, &target.did, &format!("{collection}/{rkey}")).await?;
        Ok(car(Body::from_vec(proof)))
    }

    /// Blocks of a repo by CID, as a CAR without roots. 400 `BlockNotFound`
    /// when any is missing. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.getBlocks", method = "get")]
    async fn get_blocks(
        &self,
        state: Data<&Arc<AppState>>,
        did: Query<String>,
        cids: Query<Vec<String>>,
    ) -> Result<CarResponse, XrpcError> {
        let mut wanted: Vec<Cid> = Vec::with_capacity(cids.0.len());
        for c in &cids.0 {
            let cid = params::cid("cids", c)?;
            if !wanted.contains(&cid) {
                wanted.push(cid);
            }
        }
        let target = state.resolve_did_param(&did.0).await?;
        target.ensure_active()?;
        let blocks = target.store.get_many(&target.did, &wanted).await.map_err(internal)?;
        let missing: Vec<String> = wanted.iter().filter(|c| !blocks.contains_key(c)).map(Cid::to_string).collect();
        if !missing.is_empty() {
            return Err(XrpcError::bad_request(
                "BlockNotFound",
                format!("Could not find cids: {}", missing.join(", ")),
            ));
        }
        let mut out = encode_header(&[]);
        for cid in &wanted {
            if let Some(bytes) = blocks.get(cid) {
                encode_block_into(&mut out, cid, bytes);
            }
        }
        Ok(car(Body::from_vec(out)))
    }

    /// Every repo of the domain named by the `Host` header: DID, head, rev
    /// and status (none on a host that is not a hosted domain). Does not
    /// require auth.
    #[oai(path = "/xrpc/com.atproto.sync.listRepos", method = "get")]
    async fn list_repos(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ListReposOutput>, XrpcError> {
        let limit = params::limit(limit.0, 1, 1000, 500)?;
        let after = parse_list_cursor(cursor.0.as_deref())?;
        let host = request_host(req);
        let served = match host.as_deref() {
            Some(host) => state.domain_for_host(host).await.map_err(storage_error)?,
            None => None,
        };
        // Only the Host's own domain: none on a host that is not one.
        let domains: Vec<DomainName> = served.map(|tenant| tenant.domain).into_iter().collect();
        let mut repos = Vec::new();
        let mut last: Option<(DomainName, String)> = None;
        for domain in domains {
            let start = match &after {
                Some((d, _)) if &domain < d => continue,
                Some((d, handle)) if &domain == d => Some(handle.as_str()),
                _ => None,
            };
            let store = match state.backend.tenant_store(&domain).await {
                Ok(store) => store,
                Err(primal_pds_storage::StorageError::TenantNotFound(_)) => continue,
                Err(e) => return Err(storage_error(e)),
            };
            let accounts = store.list_accounts(start, limit - repos.len()).await.map_err(storage_error)?;
            for account in accounts {
                last = Some((domain.clone(), account.handle.to_string()));
                let Some(root) = store.get_root(&account.did).await.map_err(internal)? else { continue };
                let status = wire_status(account.status);
                repos.push(ListedRepo {
                    did: account.did.to_string(),
                    head: root.commit.to_string(),
                    rev: root.rev.to_string(),
                    active: status.is_none(),
                    status: status.map(str::to_string),
                });
            }
            if repos.len() >= limit {
                break;
            }
        }
        let cursor = if repos.len() >= limit { last.map(|(d, h)| format!("{d} {h}")) } else { None };
        Ok(Json(ListReposOutput { cursor, repos }))
    }

    /// The hosting status of a repo on this server. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.getRepoStatus", method = "get")]
    async fn get_repo_status(
        &self,
        state: Data<&Arc<AppState>>,
        did: Query<String>,
    ) -> Result<Json<RepoStatusOutput>, XrpcError> {
        let target = state.resolve_did_param(&did.0).await?;
        let status = wire_status(target.account.status);
        let rev = match status {
            None => target.store.get_root(&target.did).await.map_err(internal)?.map(|r| r.rev.to_string()),
            Some(_) => None,
        };
        Ok(Json(RepoStatusOutput {
            did: target.did.to_string(),
            active: status.is_none(),
            status: status.map(str::to_string),
            rev,
        }))
    }
}
