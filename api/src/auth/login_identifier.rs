//! The identifier of a login (createSession): a handle, a DID or an e-mail
//! address, checked and normalized before anything else sees it (the
//! account lookup, the login rate limit), so an identifier of any other
//! shape, or of any length beyond these syntaxes' limits (a handle 253
//! bytes, a DID 2,048, an e-mail address 254), is a 400 that costs nothing.

use primal_pds_engine::syntax::{Did, Handle};

use crate::accounts::parse_email;
use crate::error::XrpcError;

/// A syntactically valid login identifier, trimmed and lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    /// A DID (`did:...`).
    Did(Did),
    /// An e-mail address (contains `@`).
    Email(String),
    /// A handle (anything else).
    Handle(Handle),
}

impl LoginIdentifier {
    /// Parse a client's identifier: 400 `InvalidRequest` unless it is a
    /// handle, a DID or an e-mail address.
    pub fn parse(input: &str) -> Result<LoginIdentifier, XrpcError> {
        let invalid = || XrpcError::invalid_request("identifier must be a handle, a DID or an e-mail address");
        let identifier = input.trim();
        // Longer than any of the three syntaxes allows: refused before it is copied.
        if identifier.len() > 2048 {
            return Err(invalid());
        }
        let identifier = identifier.to_ascii_lowercase();
        if identifier.starts_with("did:") {
            Did::parse(&identifier).map(LoginIdentifier::Did).map_err(|_| invalid())
        } else if identifier.contains('@') {
            match parse_email(Some(&identifier)) {
                Ok(Some(email)) => Ok(LoginIdentifier::Email(email)),
                _ => Err(invalid()),
            }
        } else {
            Handle::parse(&identifier).map(LoginIdentifier::Handle).map_err(|_| invalid())
        }
    }

    /// The normalized identifier.
    pub fn as_str(&self) -> &str {
        match self {
            LoginIdentifier::Did(did) => did.as_str(),
            LoginIdentifier::Email(email) => email,
            LoginIdentifier::Handle(handle) => handle.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_kinds_are_normalized() {
        let did = LoginIdentifier::parse(" DID:PLC:AAAAAAAAAAAAAAAAAAAAAAAA ").expect("did");
        assert_eq!(did.as_str(), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
        assert!(matches!(did, LoginIdentifier::Did(_)));
        let email = LoginIdentifier::parse("Alice@Example.COM").expect("email");
        assert_eq!((email.as_str(), matches!(email, LoginIdentifier::Email(_))), ("alice@example.com", true));
        let handle = LoginIdentifier::parse("Alice.Example.com").expect("handle");
        assert_eq!((handle.as_str(), matches!(handle, LoginIdentifier::Handle(_))), ("alice.example.com", true));
    }

    #[test]
    fn other_shapes_and_oversized_identifiers_are_refused() {
        let long_handle = format!("{}.example.com", "a".repeat(60 * 1024));
        let long_email = format!("{}@example.com", "a".repeat(300));
        let long_did = format!("did:web:{}", "a".repeat(3000));
        for bad in [
            "",
            "   ",
            "alice",
            "did:",
            "a@b@c",
            "with space.example.com",
            long_handle.as_str(),
            long_email.as_str(),
            long_did.as_str(),
        ] {
            let err = LoginIdentifier::parse(bad).expect_err(bad);
            assert_eq!(err.body().error, "InvalidRequest", "{bad}");
        }
    }
}
