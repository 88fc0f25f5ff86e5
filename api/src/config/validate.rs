//! Checks of single field values, and the Postgres URL built from the Go
//! fields. Every check names its field in the error and never echoes a
//! value that may hold a secret.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::load::ConfigError;
use crate::secret::Secret;

/// What `dbSslMode` may say (libpq's `sslmode` values).
pub const SSL_MODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/// The database the URL built from `dbConn` names: where `CREATE DATABASE`
/// and `DROP DATABASE` run. Every PostgreSQL server has it, and every role
/// may connect to it unless an administrator revoked that.
pub const MAINTENANCE_DB: &str = "postgres";

/// Everything but `A-Z a-z 0-9 - . _ ~` is percent-encoded in the user
/// name and password of a URL (`%`, `@`, `:` and `/` included).
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `listenAddr`: `:port` (every interface, as in Go) or `host:port`, where
/// host is a name, an IPv4 address or a bracketed IPv6 address.
pub fn listen_addr(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::invalid(field, reason);
    let (host, port) = split_host_port(value)
        .ok_or_else(|| bad(format!("{value:?} is not `host:port` or `:port` (e.g. `:3000`, `127.0.0.1:3000`)")))?;
    if !host.is_empty() && !valid_host(host) {
        return Err(bad(format!("{value:?}: {host:?} is not a host name or IP address")));
    }
    port.parse::<u16>().map_err(|_| bad(format!("{value:?}: the port must be a number from 0 to 65535")))?;
    Ok(())
}

/// `dbConn`: `host:port` with a non-zero port (the Go format). The value is
/// not echoed: a misplaced URL could hold a password.
pub fn db_conn(field: &'static str, value: &str) -> Result<(String, u16), ConfigError> {
    let bad = || ConfigError::invalid(field, "must be `host:port` (e.g. `postgres:5432`), with the port".into());
    let (host, port) = split_host_port(value).ok_or_else(bad)?;
    if host.is_empty() || !valid_host(host) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok((host.to_string(), port)),
        _ => Err(bad()),
    }
}

/// Split at the last `:`; `[v6]:port` keeps its brackets in the host.
fn split_host_port(value: &str) -> Option<(&str, &str)> {
    let (host, port) = value.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // An unbracketed IPv6 address (`::1:3000`) is ambiguous.
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    Some((host, port))
}

/// A DNS name (letters, digits, `-`, `_`, `.`), an IPv4 address or a
/// bracketed IPv6 address.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A URL field (`serviceURL`, `plcEndpoint`, `traefikServiceURL`): an
/// absolute `http` or `https` URL with a host. Returned without a trailing `/`.
pub fn http_url(field: &'static str, value: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(value).map_err(|e| {
        ConfigError::invalid(field, format!("{value:?} is not a URL ({e}); e.g. `https://pds.example.com`"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(field, format!("{value:?} must start with http:// or https://")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(field, format!("{value:?} has no host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::invalid(field, "must not hold a user name or password".into()));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// Names Traefik keys by (entry points, certificate resolvers): letters,
/// digits, `-` and `_`.
pub fn traefik_name(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ConfigError::invalid(field, format!("{value:?} may only hold letters, digits, `-` and `_`")));
    }
    Ok(())
}

/// `dbName`: a PostgreSQL database name of letters, digits and `_`, not
/// starting with a digit, at most 63 bytes.
pub fn db_name(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = value.len() <= 63
        && value.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(ConfigError::invalid(
            field,
            format!("{value:?} must be 1 to 63 letters, digits or `_`, not starting with a digit"),
        ));
    }
    Ok(())
}

/// `dbSslMode`: one of [`SSL_MODES`].
pub fn ssl_mode(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if !SSL_MODES.contains(&value) {
        return Err(ConfigError::invalid(field, format!("{value:?} is not one of {}", SSL_MODES.join(", "))));
    }
    Ok(())
}

/// A `dbServers` URL: `postgres://` or `postgresql://`. Not echoed (it
/// holds the password).
pub fn postgres_url(field: &'static str, entry: &str, value: &str) -> Result<(), ConfigError> {
    let ok = url::Url::parse(value)
        .is_ok_and(|u| matches!(u.scheme(), "postgres" | "postgresql") && u.host_str().is_some_and(|h| !h.is_empty()));
    if !ok {
        return Err(ConfigError::invalid(
            field,
            format!("server {entry:?}: url must be `postgres://user:password@host:port/database`"),
        ));
    }
    Ok(())
}

/// The URL of the Go configuration's server: `postgres://user:pass@host:port/postgres?sslmode=...`,
/// user and password percent-encoded (any character may appear in them).
pub fn postgres_url_from_parts(host: &str, port: u16, user: &str, password: &Secret, ssl_mode: &str) -> Secret {
    let user = utf8_percent_encode(user, USERINFO);
    let auth = if password.is_empty() {
        format!("{user}")
    } else {
        format!("{user}:{}", utf8_percent_encode(password.expose(), USERINFO))
    };
    Secret::new(format!("postgres://{auth}@{host}:{port}/{MAINTENANCE_DB}?sslmode={ssl_mode}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        for ok in [":3000", "0.0.0.0:3000", "127.0.0.1:0", "[::1]:3000", "localhost:8080", "[::]:80"] {
            assert!(listen_addr("listenAddr", ok).is_ok(), "{ok}");
        }
        for bad in ["3000", "", ":", ":http", "::1:3000", "host:65536", "bad host:80", "[zz]:80", "a..b:80"] {
            let e = listen_addr("listenAddr", bad).unwrap_err();
            assert_eq!(e.field(), Some("listenAddr"), "{bad}");
        }
    }

    #[test]
    fn db_conn_needs_a_port() {
        assert_eq!(db_conn("dbConn", "postgres:5432").unwrap(), ("postgres".into(), 5432));
        assert_eq!(db_conn("dbConn", "[::1]:5433").unwrap(), ("[::1]".into(), 5433));
        for bad in ["postgres", "postgres:", ":5432", "postgres:0", "postgres://u:hunter2@h:5432/db"] {
            let e = db_conn("dbConn", bad).unwrap_err();
            assert_eq!(e.field(), Some("dbConn"));
            assert!(!e.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn urls_must_be_http() {
        assert_eq!(http_url("serviceURL", "https://pds.example.com/").unwrap(), "https://pds.example.com");
        assert!(http_url("serviceURL", "http://localhost:2582").is_ok());
        for bad in ["pds.example.com", "ftp://x.com", "https://", "javascript:alert(1)", "https://u:p@x.com"] {
            assert_eq!(http_url("serviceURL", bad).unwrap_err().field(), Some("serviceURL"), "{bad}");
        }
    }

    #[test]
    fn user_and_password_are_percent_encoded() {
        let password = Secret::new("p@ss:w/rd%41 ?#é");
        let url = postgres_url_from_parts("db.internal", 5432, "dba@x", &password, "disable");
        let parsed = url::Url::parse(url.expose()).unwrap();
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned();
        assert_eq!(decode(parsed.username()), "dba@x");
        assert_eq!(decode(parsed.password().unwrap()), "p@ss:w/rd%41 ?#é");
        assert_eq!(parsed.host_str(), Some("db.internal"));
        assert_eq!(parsed.port(), Some(5432));
        assert_eq!(parsed.path(), "/postgres");
        assert_eq!(parsed.query(), Some("sslmode=disable"));
    }

    #[test]
    fn db_names() {
        assert!(db_name("dbName", "primal_pds").is_ok());
        for bad in ["", "1db", "pri-mal", "a\"b", &"x".repeat(64)] {
            assert_eq!(db_name("dbName", bad).unwrap_err().field(), Some("dbName"));
        }
    }
}
