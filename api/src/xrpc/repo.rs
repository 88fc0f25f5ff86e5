//! `com.atproto.repo.*`: reading and writing the records of a hosted
//! repository (createRecord, getRecord, putRecord, deleteRecord,
//! listRecords, applyWrites, describeRepo). Shapes and error names follow
//! the lexicons; reads come from the records index, never an MST walk.

use std::sync::Arc;

use cid::Cid;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi, Tags, Union};
use primal_pds_engine::data::cbor::decode_ipld;
use primal_pds_engine::data::json::ipld_to_json;
use primal_pds_engine::repo::{CommitResult, MAX_WRITES, RecordWrite, RepoError, WriteAction};
use primal_pds_engine::store::{Blockstore, RepoStore, RootStore};
use primal_pds_engine::syntax::{Did, Nsid, RecordKey};

use crate::auth::rate_limit::{CREATE_POINTS, DELETE_POINTS, UPDATE_POINTS};
use crate::error::{INTERNAL, XrpcError};
use crate::record_input::record_from_json;
use crate::repo_access::{RepoTarget, WriteError, require_repo_write};
use crate::state::AppState;
use crate::xrpc::params;

/// Tags of this group.
#[derive(Tags)]
pub enum RepoTags {
    /// Records of a repository.
    #[oai(rename = "com.atproto.repo")]
    Repo,
}

/// `com.atproto.repo.defs#commitMeta`.
#[derive(Debug, Clone, Object)]
pub struct CommitMeta {
    /// The new commit's CID.
    pub cid: String,
    /// The new commit's rev.
    pub rev: String,
}

impl CommitMeta {
    fn of(result: &CommitResult) -> CommitMeta {
        CommitMeta { cid: result.commit.to_string(), rev: result.rev.to_string() }
    }
}

/// Input of `com.atproto.repo.createRecord`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateRecordInput {
    /// The handle or DID of the repo.
    pub repo: String,
    /// The NSID of the record collection.
    pub collection: String,
    /// The record key; a TID is generated when absent.
    pub rkey: Option<String>,
    /// `false` skips Lexicon validation, `true` requires it, unset validates known schemas.
    pub validate: Option<bool>,
    /// The record itself; its `$type` must be the collection.
    pub record: serde_json::Value,
    /// Fail unless the current commit has this CID.
    pub swap_commit: Option<String>,
}

/// Output of createRecord and putRecord.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct RecordWriteOutput {
    /// `at://<did>/<collection>/<rkey>`.
    pub uri: String,
    /// The record's CID.
    pub cid: String,
    /// The commit that wrote it.
    #[oai(skip_serializing_if_is_none)]
    pub commit: Option<CommitMeta>,
    /// `valid` or `unknown`; absent when validation was skipped.
    #[oai(skip_serializing_if_is_none)]
    pub validation_status: Option<String>,
}

/// Input of `com.atproto.repo.putRecord`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct PutRecordInput {
    /// The handle or DID of the repo.
    pub repo: String,
    /// The NSID of the record collection.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// `false` skips Lexicon validation, `true` requires it, unset validates known schemas.
    pub validate: Option<bool>,
    /// The record to write.
    pub record: serde_json::Value,
    /// Fail unless the current record has this CID; `null`: unless there is no record.
    pub swap_record: MaybeUndefined<String>,
    /// Fail unless the current commit has this CID.
    pub swap_commit: Option<String>,
}

/// Input of `com.atproto.repo.deleteRecord`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DeleteRecordInput {
    /// The handle or DID of the repo.
    pub repo: String,
    /// The NSID of the record collection.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// Fail unless the current record has this CID.
    pub swap_record: Option<String>,
    /// Fail unless the current commit has this CID.
    pub swap_commit: Option<String>,
}

/// Output of deleteRecord: the commit, absent when there was nothing to delete.
#[derive(Debug, Object)]
pub struct DeleteRecordOutput {
    /// The commit that deleted the record.
    #[oai(skip_serializing_if_is_none)]
    pub commit: Option<CommitMeta>,
}

/// Output of `com.atproto.repo.getRecord`.
#[derive(Debug, Object)]
pub struct GetRecordOutput {
    /// `at://<did>/<collection>/<rkey>`.
    pub uri: String,
    /// The record's CID.
    pub cid: String,
    /// The record.
    pub value: serde_json::Value,
}

/// `com.atproto.repo.listRecords#record`.
#[derive(Debug, Object)]
pub struct ListedRecord {
    /// `at://<did>/<collection>/<rkey>`.
    pub uri: String,
    /// The record's CID.
    pub cid: String,
    /// The record.
    pub value: serde_json::Value,
}

/// Output of `com.atproto.repo.listRecords`.
#[derive(Debug, Object)]
pub struct ListRecordsOutput {
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub cursor: Option<String>,
    /// The records.
    pub records: Vec<ListedRecord>,
}

/// `com.atproto.repo.applyWrites#create`.
#[derive(Debug, Object)]
pub struct WriteCreate {
    /// The NSID of the record collection.
    pub collection: String,
    /// The record key; a TID is generated when absent.
    pub rkey: Option<String>,
    /// The record.
    pub value: serde_json::Value,
}

/// `com.atproto.repo.applyWrites#update`.
#[derive(Debug, Object)]
pub struct WriteUpdate {
    /// The NSID of the record collection.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The record.
    pub value: serde_json::Value,
}

/// `com.atproto.repo.applyWrites#delete`.
#[derive(Debug, Object)]
pub struct WriteDelete {
    /// The NSID of the record collection.
    pub collection: String,
    /// The record key.
    pub rkey: String,
}

/// One write of an applyWrites batch, told apart by `$type`.
#[derive(Debug, Union)]
#[oai(discriminator_name = "$type")]
pub enum WriteOp {
    /// Create a record.
    #[oai(mapping = "com.atproto.repo.applyWrites#create")]
    Create(WriteCreate),
    /// Update a record.
    #[oai(mapping = "com.atproto.repo.applyWrites#update")]
    Update(WriteUpdate),
    /// Delete a record.
    #[oai(mapping = "com.atproto.repo.applyWrites#delete")]
    Delete(WriteDelete),
}

/// Input of `com.atproto.repo.applyWrites`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct ApplyWritesInput {
    /// The handle or DID of the repo.
    pub repo: String,
    /// `false` skips Lexicon validation, `true` requires it, unset validates known schemas.
    pub validate: Option<bool>,
    /// The writes, applied as one commit.
    pub writes: Vec<WriteOp>,
    /// Fail unless the current commit has this CID.
    pub swap_commit: Option<String>,
}

/// Result of a create or an update in an applyWrites batch.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct WriteRecordResult {
    /// `at://<did>/<collection>/<rkey>`.
    pub uri: String,
    /// The record's CID.
    pub cid: String,
    /// `valid` or `unknown`; absent when validation was skipped.
    #[oai(skip_serializing_if_is_none)]
    pub validation_status: Option<String>,
}

/// Result of a delete in an applyWrites batch (no fields).
#[derive(Debug, Object)]
pub struct WriteDeleteResult {}

/// One result of an applyWrites batch, in the order of the writes.
#[derive(Debug, Union)]
#[oai(discriminator_name = "$type")]
pub enum WriteResult {
    /// A record was created.
    #[oai(mapping = "com.atproto.repo.applyWrites#createResult")]
    Create(WriteRecordResult),
    /// A record was updated.
    #[oai(mapping = "com.atproto.repo.applyWrites#updateResult")]
    Update(WriteRecordResult),
    /// A record was deleted.
    #[oai(mapping = "com.atproto.repo.applyWrites#deleteResult")]
    Delete(WriteDeleteResult),
}

/// Output of `com.atproto.repo.applyWrites`.
#[derive(Debug, Object)]
pub struct ApplyWritesOutput {
    /// The commit.
    pub commit: CommitMeta,
    /// One result per write.
    pub results: Vec<WriteResult>,
}

/// Output of `com.atproto.repo.describeRepo`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DescribeRepoOutput {
    /// The account's handle.
    pub handle: String,
    /// The account's DID.
    pub did: String,
    /// The complete DID document.
    pub did_doc: serde_json::Value,
    /// Every collection holding at least one record.
    pub collections: Vec<String>,
    /// Whether the handle resolves both ways (it does for hosted handles).
    pub handle_is_correct: bool,
}

fn record_uri(did: &Did, collection: &str, rkey: &str) -> String {
    format!("at://{did}/{collection}/{rkey}")
}

fn store_error(e: impl std::fmt::Display) -> XrpcError {
    XrpcError::internal(INTERNAL, &e)
}

/// The repo a write names, authorized for the caller, served only when active.
async fn write_target(state: &AppState, req: &Request, repo: &str, points: u32) -> Result<RepoTarget, XrpcError> {
    let id = params::at_identifier("repo", repo)?;
    let target = state.resolve_repo(&id).await?;
    require_repo_write(state, req, &target.did, points).await?;
    target.ensure_active()?;
    Ok(target)
}

/// The rate limit points of an applyWrites batch.
fn write_points(writes: &[WriteOp]) -> u32 {
    writes
        .iter()
        .map(|w| match w {
            WriteOp::Create(_) => CREATE_POINTS,
            WriteOp::Update(_) => UPDATE_POINTS,
            WriteOp::Delete(_) => DELETE_POINTS,
        })
        .fold(0u32, u32::saturating_add)
}

/// The repo a read names, served only when active.
async fn read_target(state: &AppState, repo: &str) -> Result<RepoTarget, XrpcError> {
    let target = state.resolve_repo(&params::at_identifier("repo", repo)?).await?;
    target.ensure_active()?;
    Ok(target)
}

/// The record CID a write produced for `path`.
fn written_cid(result: &CommitResult, path: &str) -> Result<Cid, XrpcError> {
    result
        .ops
        .iter()
        .find(|op| op.path == path)
        .and_then(|op| op.cid)
        .ok_or_else(|| XrpcError::internal(INTERNAL, &format!("commit has no record CID for {path}")))
}

/// A record key from the input, or a fresh TID.
fn rkey_or_tid(state: &AppState, rkey: Option<&str>) -> Result<RecordKey, XrpcError> {
    match rkey {
        Some(r) => params::record_key("rkey", r),
        None => params::record_key("rkey", state.clock.next().as_str()),
    }
}

/// How many times putRecord and deleteRecord re-read the record when a
/// concurrent writer changed it between the read and the commit.
const WRITE_ATTEMPTS: usize = 3;

/// `com.atproto.repo.*`.
pub struct RepoApi;

#[OpenApi(tag = "RepoTags::Repo")]
impl RepoApi {
    /// Create a single new record. Requires auth (the repo owner's session, or the admin key).
    #[oai(path = "/xrpc/com.atproto.repo.createRecord", method = "post")]
    async fn create_record(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<CreateRecordInput>,
    ) -> Result<Json<RecordWriteOutput>, XrpcError> {
        let input = body.0;
        let target = write_target(&state, req, &input.repo, CREATE_POINTS).await?;
        let collection = params::nsid("collection", &input.collection)?;
        let rkey = rkey_or_tid(&state, input.rkey.as_deref())?;
        let swap_commit = params::opt_cid("swapCommit", input.swap_commit.as_deref())?;
        let record = record_from_json(&collection, &rkey, &input.record, input.validate)?;
        let write = RecordWrite::create(collection.clone(), rkey.clone(), record.record);
        let result = state.write_repo(&target, vec![write], swap_commit).await?;
        let path = format!("{collection}/{rkey}");
        Ok(Json(RecordWriteOutput {
            uri: record_uri(&target.did, collection.as_str(), rkey.as_str()),
            cid: written_cid(&result, &path)?.to_string(),
            commit: Some(CommitMeta::of(&result)),
            validation_status: record.validation_status.map(str::to_string),
        }))
    }

    /// Write a record, creating or updating it as needed. Requires auth.
    #[oai(path = "/xrpc/com.atproto.repo.putRecord", method = "post")]
    async fn put_record(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<PutRecordInput>,
    ) -> Result<Json<RecordWriteOutput>, XrpcError> {
        let input = body.0;
        let target = write_target(&state, req, &input.repo, UPDATE_POINTS).await?;
        let collection = params::nsid("collection", &input.collection)?;
        let rkey = params::record_key("rkey", &input.rkey)?;
        let swap_commit = params::opt_cid("swapCommit", input.swap_commit.as_deref())?;
        // Some(None): the record must not exist; Some(Some(cid)): it must have that CID.
        let swap_record = match &input.swap_record {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(v) => Some(Some(params::cid("swapRecord", v)?)),
        };
        let record = record_from_json(&collection, &rkey, &input.record, input.validate)?;
        let path = format!("{collection}/{rkey}");
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let current =
                target.store.get_record(&target.did, collection.as_str(), rkey.as_str()).await.map_err(store_error)?;
            let write = match (current, swap_record) {
                (Some(_), Some(None)) | (None, Some(Some(_))) => {
                    return Err(XrpcError::bad_request(
                        "InvalidSwap",
                        format!("Record {path} is not what swapRecord expects"),
                    ));
                }
                (Some(_), swap) => {
                    RecordWrite::update(collection.clone(), rkey.clone(), record.record.clone(), swap.flatten())
                }
                (None, _) => RecordWrite::create(collection.clone(), rkey.clone(), record.record.clone()),
            };
            match state.write_repo(&target, vec![write], swap_commit).await {
                Err(WriteError::Repo(RepoError::RecordExists(_) | RepoError::RecordNotFound(_)))
                    if attempt < WRITE_ATTEMPTS => {}
                other => break other?,
            }
        };
        Ok(Json(RecordWriteOutput {
            uri: record_uri(&target.did, collection.as_str(), rkey.as_str()),
            cid: written_cid(&result, &path)?.to_string(),
            commit: Some(CommitMeta::of(&result)),
            validation_status: record.validation_status.map(str::to_string),
        }))
    }

    /// Delete a record, or ensure it does not exist. Requires auth.
    #[oai(path = "/xrpc/com.atproto.repo.deleteRecord", method = "post")]
    async fn delete_record(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<DeleteRecordInput>,
    ) -> Result<Json<DeleteRecordOutput>, XrpcError> {
        let input = body.0;
        let target = write_target(&state, req, &input.repo, DELETE_POINTS).await?;
        let collection = params::nsid("collection", &input.collection)?;
        let rkey = params::record_key("rkey", &input.rkey)?;
        let swap_commit = params::opt_cid("swapCommit", input.swap_commit.as_deref())?;
        let swap_record = params::opt_cid("swapRecord", input.swap_record.as_deref())?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current =
                target.store.get_record(&target.did, collection.as_str(), rkey.as_str()).await.map_err(store_error)?;
            if current.is_none() {
                if swap_record.is_some() {
                    return Err(XrpcError::bad_request(
                        "InvalidSwap",
                        format!("Record {collection}/{rkey} does not exist (swapRecord given)"),
                    ));
                }
                if let Some(expected) = swap_commit {
                    // Nothing to write, but the caller's precondition still holds or fails.
                    let root = target.store.get_root(&target.did).await.map_err(store_error)?;
                    if root.map(|r| r.commit) != Some(expected) {
                        return Err(XrpcError::bad_request(
                            "InvalidSwap",
                            "swapCommit does not match the current commit",
                        ));
                    }
                }
                return Ok(Json(DeleteRecordOutput { commit: None }));
            }
            let write = RecordWrite::delete(collection.clone(), rkey.clone(), swap_record);
            match state.write_repo(&target, vec![write], swap_commit).await {
                Err(WriteError::Repo(RepoError::RecordNotFound(_))) if attempt < WRITE_ATTEMPTS => {}
                other => return Ok(Json(DeleteRecordOutput { commit: Some(CommitMeta::of(&other?)) })),
            }
        }
    }

    /// Apply a batch of creates, updates and deletes as one commit (at most 200). Requires auth.
    #[oai(path = "/xrpc/com.atproto.repo.applyWrites", method = "post")]
    async fn apply_writes(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<ApplyWritesInput>,
    ) -> Result<Json<ApplyWritesOutput>, XrpcError> {
        let input = body.0;
        let target = write_target(&state, req, &input.repo, write_points(&input.writes)).await?;
        if input.writes.len() > MAX_WRITES {
            return Err(XrpcError::invalid_request(format!(
                "Too many writes: {} (max {MAX_WRITES})",
                input.writes.len()
            )));
        }
        let swap_commit = params::opt_cid("swapCommit", input.swap_commit.as_deref())?;
        let mut writes = Vec::with_capacity(input.writes.len());
        // (action, path, validationStatus) per write, for the results.
        let mut planned = Vec::with_capacity(input.writes.len());
        for op in &input.writes {
            match op {
                WriteOp::Create(c) => {
                    let collection = params::nsid("collection", &c.collection)?;
                    let rkey = rkey_or_tid(&state, c.rkey.as_deref())?;
                    let record = record_from_json(&collection, &rkey, &c.value, input.validate)?;
                    planned.push((WriteAction::Create, format!("{collection}/{rkey}"), record.validation_status));
                    writes.push(RecordWrite::create(collection, rkey, record.record));
                }
                WriteOp::Update(u) => {
                    let collection = params::nsid("collection", &u.collection)?;
                    let rkey = params::record_key("rkey", &u.rkey)?;
                    let record = record_from_json(&collection, &rkey, &u.value, input.validate)?;
                    planned.push((WriteAction::Update, format!("{collection}/{rkey}"), record.validation_status));
                    writes.push(RecordWrite::update(collection, rkey, record.record, None));
                }
                WriteOp::Delete(d) => {
                    let collection = params::nsid("collection", &d.collection)?;
                    let rkey = params::record_key("rkey", &d.rkey)?;
                    planned.push((WriteAction::Delete, format!("{collection}/{rkey}"), None));
                    writes.push(RecordWrite::delete(collection, rkey, None));
                }
            }
        }
        let result = state.write_repo(&target, writes, swap_commit).await?;
        let mut results = Vec::with_capacity(planned.len());
        for (action, path, status) in planned {
            let out = || -> Result<WriteRecordResult, XrpcError> {
                Ok(WriteRecordResult {
                    uri: format!("at://{}/{path}", target.did),
                    cid: written_cid(&result, &path)?.to_string(),
                    validation_status: status.map(str::to_string),
                })
            };
            results.push(match action {
                WriteAction::Create => WriteResult::Create(out()?),
                WriteAction::Update => WriteResult::Update(out()?),
                WriteAction::Delete => WriteResult::Delete(WriteDeleteResult {}),
            });
        }
        Ok(Json(ApplyWritesOutput { commit: CommitMeta::of(&result), results }))
    }

    /// Get a single record. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.repo.getRecord", method = "get")]
    async fn get_record(
        &self,
        state: Data<&Arc<AppState>>,
        repo: Query<String>,
        collection: Query<String>,
        rkey: Query<String>,
        cid: Query<Option<String>>,
    ) -> Result<Json<GetRecordOutput>, XrpcError> {
        let collection = params::nsid("collection", &collection.0)?;
        let rkey = params::record_key("rkey", &rkey.0)?;
        let wanted = params::opt_cid("cid", cid.0.as_deref())?;
        let target = read_target(&state, &repo.0).await?;
        let uri = record_uri(&target.did, collection.as_str(), rkey.as_str());
        let not_found = || XrpcError::bad_request("RecordNotFound", format!("Could not locate record: {uri}"));
        let current =
            target.store.get_record(&target.did, collection.as_str(), rkey.as_str()).await.map_err(store_error)?;
        let Some(current) = current else { return Err(not_found()) };
        if wanted.is_some_and(|w| w != current) {
            return Err(not_found());
        }
        // The block of a record deleted meanwhile is gone: not found, not a failure.
        let Some(bytes) = target.store.get(&target.did, &current).await.map_err(store_error)? else {
            return Err(not_found());
        };
        let value = decode_ipld(&bytes).map_err(store_error)?;
        Ok(Json(GetRecordOutput { uri, cid: current.to_string(), value: ipld_to_json(&value) }))
    }

    /// List the records of a collection, newest record key first (`reverse`
    /// for oldest first), from the records index. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.repo.listRecords", method = "get")]
    async fn list_records(
        &self,
        state: Data<&Arc<AppState>>,
        repo: Query<String>,
        collection: Query<String>,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
        reverse: Query<Option<bool>>,
    ) -> Result<Json<ListRecordsOutput>, XrpcError> {
        let collection: Nsid = params::nsid("collection", &collection.0)?;
        let limit = params::limit(limit.0, 1, 100, 50)?;
        // A cursor is a record key this method returned.
        let cursor = cursor.0.as_deref().map(|c| params::record_key("cursor", c)).transpose()?;
        let target = read_target(&state, &repo.0).await?;
        // The reference PDS lists in descending record-key order unless `reverse`.
        let descending = !reverse.0.unwrap_or(false);
        let rows = target
            .store
            .list_records(&target.did, collection.as_str(), cursor.as_ref().map(|c| c.as_str()), limit, descending)
            .await
            .map_err(store_error)?;
        let cids: Vec<Cid> = rows.iter().map(|(_, cid)| *cid).collect();
        let blocks = target.store.get_many(&target.did, &cids).await.map_err(store_error)?;
        let mut records = Vec::with_capacity(rows.len());
        for (rkey, cid) in &rows {
            // A record deleted between the two reads is left out.
            let Some(bytes) = blocks.get(cid) else { continue };
            let value = decode_ipld(bytes).map_err(store_error)?;
            records.push(ListedRecord {
                uri: record_uri(&target.did, collection.as_str(), rkey),
                cid: cid.to_string(),
                value: ipld_to_json(&value),
            });
        }
        let cursor = if rows.len() == limit { rows.last().map(|(rkey, _)| rkey.clone()) } else { None };
        Ok(Json(ListRecordsOutput { cursor, records }))
    }

    /// The account and repository: handle, DID, DID document, collections. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.repo.describeRepo", method = "get")]
    async fn describe_repo(
        &self,
        state: Data<&Arc<AppState>>,
        repo: Query<String>,
    ) -> Result<Json<DescribeRepoOutput>, XrpcError> {
        let target = read_target(&state, &repo.0).await?;
        let key = state.signing_key(&target.account)?.public_key();
        let endpoint = crate::identity::pds_endpoint(&state.config, &target.domain);
        let doc = state.identity.did_document(&target.did, &target.account.handle, &key, &endpoint);
        let did_doc = serde_json::to_value(&doc).map_err(store_error)?;
        let collections = target.store.list_collections(&target.did).await.map_err(store_error)?;
        Ok(Json(DescribeRepoOutput {
            handle: target.account.handle.to_string(),
            did: target.did.to_string(),
            did_doc,
            collections,
            handle_is_correct: true,
        }))
    }
}
