//! Records arriving as JSON (createRecord, putRecord, applyWrites): the
//! atproto JSON form converted to the data model, the `$type` checked
//! against the collection, and Lexicon validation as the `validate` flag asks.
//!
//! `validate`: `true` requires a known schema and a valid record; unset
//! validates when the schema is known (`validationStatus` `valid`, or
//! `unknown` when there is none); `false` skips validation (no
//! `validationStatus` in the output).

use ipld_core::ipld::Ipld;
use primal_pds_engine::data::json::ipld_from_json_object;
use primal_pds_engine::data::record::validate_record;
use primal_pds_engine::lexicon::Validation;
use primal_pds_engine::syntax::{Nsid, RecordKey};

use crate::error::XrpcError;

/// A record ready to write, with the `validationStatus` to report.
#[derive(Debug, Clone)]
pub struct RecordInput {
    /// The record in the data model.
    pub record: Ipld,
    /// `valid`, `unknown`, or `None` when validation was skipped.
    pub validation_status: Option<&'static str>,
}

/// Convert and check the JSON `value` written to `collection/rkey`.
pub fn record_from_json(
    collection: &Nsid,
    rkey: &RecordKey,
    value: &serde_json::Value,
    validate: Option<bool>,
) -> Result<RecordInput, XrpcError> {
    let record =
        ipld_from_json_object(value).map_err(|e| XrpcError::invalid_request(format!("Invalid record: {e}")))?;
    let type_name = validate_record(&record).map_err(|e| XrpcError::invalid_request(format!("Invalid record: {e}")))?;
    if type_name != collection.as_str() {
        return Err(XrpcError::invalid_request(format!(
            "Invalid $type: expected {}, got {type_name}",
            collection.as_str()
        )));
    }
    let validation_status = match validate {
        Some(false) => None,
        required => {
            let outcome = crate::lexicons::catalog()
                .validate_record(collection, rkey, &record)
                .map_err(|e| XrpcError::invalid_request(format!("Invalid {} record: {e}", collection.as_str())))?;
            match outcome {
                Validation::Valid => Some("valid"),
                Validation::Unknown if required == Some(true) => {
                    return Err(XrpcError::invalid_request(format!(
                        "Lexicon not found: {} (validate was true)",
                        collection.as_str()
                    )));
                }
                Validation::Unknown => Some("unknown"),
            }
        }
    };
    Ok(RecordInput { record, validation_status })
}
