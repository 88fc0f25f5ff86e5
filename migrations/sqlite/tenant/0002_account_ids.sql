-- Accounts get a sequential `id` (creation order), as the Go primal-pds API
-- returns one per account. SQLite cannot add a primary key to a table, so
-- the table is rebuilt: `id` becomes the INTEGER PRIMARY KEY (an alias of
-- the rowid, which VACUUM keeps) with AUTOINCREMENT (a deleted account's id
-- is never handed out again); the DID stays unique. Existing accounts are
-- numbered in creation order.

CREATE TABLE accounts_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    did TEXT UNIQUE NOT NULL,
    handle TEXT UNIQUE NOT NULL,
    email TEXT,
    password_hash TEXT,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    signing_key BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

INSERT INTO accounts_v2 (did, handle, email, password_hash, role, status, signing_key, created_at, updated_at)
SELECT did, handle, email, password_hash, role, status, signing_key, created_at, updated_at
FROM accounts ORDER BY created_at, rowid;

DROP TABLE accounts;

ALTER TABLE accounts_v2 RENAME TO accounts;
