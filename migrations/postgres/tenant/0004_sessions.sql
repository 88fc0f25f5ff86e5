-- Sessions and sign-up of a tenant: refresh tokens (one row per live
-- session, deleted when used, revoked or the account goes), app passwords,
-- invite codes, and per-domain settings (the registration mode).
-- Same tables and columns as migrations/sqlite/tenant/0004_sessions.sql.
-- Times are Unix milliseconds.

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    did TEXT NOT NULL,
    app_password TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Revoking every session of an account or of one app password.
CREATE INDEX refresh_tokens_did ON refresh_tokens (did, app_password);

CREATE TABLE app_passwords (
    did TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    privileged BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (did, name)
);

CREATE TABLE invite_codes (
    code TEXT PRIMARY KEY,
    remaining BIGINT NOT NULL CHECK (remaining >= 0),
    for_account TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Login by e-mail address.
CREATE INDEX accounts_email ON accounts (lower(email));
