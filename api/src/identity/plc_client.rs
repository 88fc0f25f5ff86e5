//! [`PlcClient`]: the few calls this server makes to a `did:plc` directory
//! (did-method-plc README, "Directory Server API").
//!
//! Every request has a timeout; answers are read up to a size cap.

use std::time::Duration;

use primal_pds_engine::identity::plc::SignedPlcOperation;
use primal_pds_engine::syntax::Did;

use super::IdentityError;

/// Time allowed to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest answer read (an operation or an error message is a few KiB).
const MAX_BODY: usize = 256 * 1024;
/// Longest directory message kept in an error.
const MAX_MESSAGE: usize = 300;

/// A client of one PLC directory.
#[derive(Debug, Clone)]
pub struct PlcClient {
    base: String,
    http: reqwest::Client,
}

impl PlcClient {
    /// A client of the directory at `endpoint` (`http://` or `https://`; a
    /// trailing `/` is ignored).
    pub fn new(endpoint: &str) -> Result<PlcClient, IdentityError> {
        let invalid = |reason: &str| IdentityError::InvalidPlcEndpoint {
            endpoint: endpoint.to_string(),
            reason: reason.to_string(),
        };
        let base = endpoint.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("must be an http:// or https:// URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("must not have a query or fragment"));
        }
        Ok(PlcClient { base: base.to_string(), http: http_client().map_err(|e| invalid(&e))? })
    }

    /// The directory's base URL (no trailing `/`).
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Submit a signed operation for `did` (`POST <plc>/<did>`). A non-2xx
    /// answer is [`IdentityError::PlcRejected`] with the directory's message.
    pub async fn submit(&self, did: &Did, op: &SignedPlcOperation) -> Result<(), IdentityError> {
        let request = self.http.post(format!("{}/{did}", self.base)).json(op);
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body = self.read_body(response).await?;
        if !status.is_success() {
            return Err(self.rejected(status.as_u16(), &body));
        }
        Ok(())
    }

    /// The latest operation of `did` (`GET <plc>/<did>/log/last`).
    pub async fn last_operation(&self, did: &Did) -> Result<SignedPlcOperation, IdentityError> {
        let response =
            self.http.get(format!("{}/{did}/log/last", self.base)).send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body = self.read_body(response).await?;
        if !status.is_success() {
            return Err(self.rejected(status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| IdentityError::PlcUnreachable {
            endpoint: self.base.clone(),
            reason: format!("unreadable last operation of {did}: {e}"),
        })
    }

    /// Read an answer's body, up to [`MAX_BODY`] bytes.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, IdentityError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(IdentityError::PlcUnreachable {
                    endpoint: self.base.clone(),
                    reason: format!("answer larger than {MAX_BODY} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn unreachable(&self, err: reqwest::Error) -> IdentityError {
        let reason = if err.is_timeout() {
            "timed out".to_string()
        } else if err.is_connect() {
            "cannot connect".to_string()
        } else {
            // Without the URL: it is our own base URL plus a DID, already in the error.
            err.without_url().to_string()
        };
        IdentityError::PlcUnreachable { endpoint: self.base.clone(), reason }
    }

    fn rejected(&self, status: u16, body: &[u8]) -> IdentityError {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            message: Option<String>,
            error: Option<String>,
        }
        let message = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { message: Some(m), .. }) | Ok(ErrorBody { message: None, error: Some(m) }) => m,
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        let message: String = message.chars().take(MAX_MESSAGE).collect();
        IdentityError::PlcRejected { endpoint: self.base.clone(), status, message }
    }
}

/// An HTTP client with timeouts, TLS through rustls with the ring provider.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    // reqwest is built without a provider of its own; an Err means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("primal-pds/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}
