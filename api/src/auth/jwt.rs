//! Session JWTs: HS256 access and refresh tokens, as the reference PDS and
//! the Go primal-pds issue them.
//!
//! - Access: header `typ: at+jwt`, scope `com.atproto.access` (password
//!   login), `com.atproto.appPass` or `com.atproto.appPassPrivileged` (app
//!   password login), about 2 hours.
//! - Refresh: header `typ: refresh+jwt`, scope `com.atproto.refresh`, a `jti`
//!   stored in the tenant database (single use), about 90 days.
//!
//! Both carry the session id (`sid`): it stays the same through refreshes,
//! and an access token is accepted only while its session has a refresh
//! token (see [`crate::auth::session`]), so logging out ends it at once.
//!
//! `sub` is the account DID, `aud` the tenant's service DID
//! (`did:web:<domain>`). Verification accepts HS256 only (so `alg: none`
//! and every other algorithm are refused), requires `exp`, `sub` and `aud`,
//! and checks the `typ` and scope of the expected kind: a refresh token is
//! never an access token and the reverse. The HMAC comparison inside
//! `jsonwebtoken` is constant-time.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::identity::IdentityError;
use crate::secret::Secret;

/// Lifetime of an access token.
pub const ACCESS_TTL_SECS: u64 = 2 * 60 * 60;
/// Lifetime of a refresh token.
pub const REFRESH_TTL_SECS: u64 = 90 * 24 * 60 * 60;
/// The file holding the generated JWT secret when `jwtSecret` is not configured.
pub const JWT_SECRET_FILE: &str = "jwt-secret.key";

const ACCESS_TYP: &str = "at+jwt";
const REFRESH_TYP: &str = "refresh+jwt";

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Full access (password login).
    Access,
    /// An app password session.
    AppPass,
    /// A privileged app password session.
    AppPassPrivileged,
    /// A refresh token.
    Refresh,
}

impl Scope {
    /// The `scope` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Access => "com.atproto.access",
            Scope::AppPass => "com.atproto.appPass",
            Scope::AppPassPrivileged => "com.atproto.appPassPrivileged",
            Scope::Refresh => "com.atproto.refresh",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        [Scope::Access, Scope::AppPass, Scope::AppPassPrivileged, Scope::Refresh].into_iter().find(|x| x.as_str() == s)
    }
}

/// The claims of both kinds of token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The scope (see [`Scope`]).
    pub scope: String,
    /// The account DID.
    pub sub: String,
    /// The tenant's service DID.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Refresh tokens: the stored id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The session id (absent from tokens issued before sessions had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// App password sessions: the app password's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past its `exp`.
    #[error("token has expired")]
    Expired,
    /// Bad signature, algorithm, format, claims or kind.
    #[error("token could not be verified: {0}")]
    Invalid(&'static str),
}

/// The HMAC keys for session tokens. `Debug` shows nothing.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl JwtKeys {
    /// Keys from a secret (its UTF-8 bytes are the HMAC key).
    pub fn from_secret(secret: &Secret) -> Result<JwtKeys, IdentityError> {
        let bytes = secret.expose().as_bytes();
        let bad = |e: jsonwebtoken::errors::Error| IdentityError::KeyFile {
            path: JWT_SECRET_FILE.into(),
            reason: format!("unusable JWT secret: {:?}", e.kind()),
        };
        let encoding = EncodingKey::from_secret(bytes).map_err(bad)?;
        let decoding = DecodingKey::from_secret(bytes).map_err(bad)?;
        Ok(JwtKeys { encoding, decoding })
    }

    /// The configured secret, or the one generated once (32 random bytes,
    /// hex) and kept in `<data_dir>/jwt-secret.key` with mode 0600.
    pub fn load(configured: Option<&Secret>, data_dir: &Path) -> Result<JwtKeys, IdentityError> {
        if let Some(secret) = configured.filter(|s| !s.is_empty()) {
            return JwtKeys::from_secret(secret);
        }
        let path = data_dir.join(JWT_SECRET_FILE);
        let bytes = crate::identity::secret_file::read_or_create(&path, || {
            let secret = Secret::random_hex(32).map_err(|e| IdentityError::Rng(e.to_string()))?;
            Ok(secret.expose().as_bytes().to_vec())
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| IdentityError::KeyFile { path: path.clone(), reason: "not UTF-8 text".into() })?;
        JwtKeys::from_secret(&Secret::new(text.trim()))
    }

    /// Sign `claims` with the header `typ` of their kind.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(if claims.scope == Scope::Refresh.as_str() { REFRESH_TYP } else { ACCESS_TYP }.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|_| TokenError::Invalid("signing failed"))
    }

    /// Verify a token of the expected kind (`refresh` or access) and
    /// return its claims and scope. The audience is checked by the caller
    /// (it depends on the account's tenant).
    pub fn verify(&self, token: &str, refresh: bool) -> Result<(Claims, Scope), TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidSignature => TokenError::Invalid("bad signature"),
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::Invalid("algorithm"),
            _ => TokenError::Invalid("malformed token"),
        })?;
        let expected_typ = if refresh { REFRESH_TYP } else { ACCESS_TYP };
        if data.header.typ.as_deref() != Some(expected_typ) {
            return Err(TokenError::Invalid("wrong token type"));
        }
        let scope = Scope::parse(&data.claims.scope).ok_or(TokenError::Invalid("unknown scope"))?;
        if (scope == Scope::Refresh) != refresh {
            return Err(TokenError::Invalid("wrong token scope"));
        }
        if refresh && data.claims.jti.as_deref().is_none_or(str::is_empty) {
            return Err(TokenError::Invalid("refresh token without id"));
        }
        Ok((data.claims, scope))
    }
}

/// The service DID of a tenant: the `aud` of its tokens.
pub fn service_did(domain: &str) -> String {
    format!("did:web:{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::from_secret(&Secret::new("unit-test-secret")).unwrap()
    }

    fn claims(scope: Scope, exp: u64) -> Claims {
        Claims {
            scope: scope.as_str().into(),
            sub: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".into(),
            aud: service_did("a.example.com"),
            iat: now_secs(),
            exp,
            jti: (scope == Scope::Refresh).then(|| "id1".into()),
            sid: Some("s1".into()),
            app: None,
        }
    }

    #[test]
    fn round_trip_and_kinds() {
        let k = keys();
        let access = k.sign(&claims(Scope::Access, now_secs() + 60)).unwrap();
        let refresh = k.sign(&claims(Scope::Refresh, now_secs() + 60)).unwrap();
        assert_eq!(k.verify(&access, false).unwrap().1, Scope::Access);
        assert_eq!(k.verify(&refresh, true).unwrap().1, Scope::Refresh);
        assert!(matches!(k.verify(&refresh, false), Err(TokenError::Invalid(_))));
        assert!(matches!(k.verify(&access, true), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn forged_expired_and_none_are_refused() {
        let k = keys();
        let other = JwtKeys::from_secret(&Secret::new("another-secret")).unwrap();
        let forged = other.sign(&claims(Scope::Access, now_secs() + 60)).unwrap();
        assert_eq!(k.verify(&forged, false), Err(TokenError::Invalid("bad signature")));
        let expired = k.sign(&claims(Scope::Access, now_secs() - 3600)).unwrap();
        assert_eq!(k.verify(&expired, false), Err(TokenError::Expired));
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b64.encode(serde_json::to_vec(&claims(Scope::Access, now_secs() + 60)).unwrap());
        for header in [r#"{"alg":"none","typ":"at+jwt"}"#, r#"{"alg":"HS512","typ":"at+jwt"}"#] {
            let token = format!("{}.{body}.", b64.encode(header));
            assert!(k.verify(&token, false).is_err(), "{header}");
        }
        assert!(k.verify("not.a.jwt", false).is_err());
        assert!(k.verify("", false).is_err());
    }
}
