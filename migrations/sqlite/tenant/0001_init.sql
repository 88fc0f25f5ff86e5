-- One tenant (hosted domain) of the SQLite backend: <data_dir>/tenants/<db_name>.sqlite.
-- Same tables and columns as migrations/postgres/tenant/0001_init.sql.
-- Times are Unix milliseconds; CIDs are base32 text (as the Go primal-pds stores them).
-- STRICT tables refuse values of the wrong type.

CREATE TABLE accounts (
    did TEXT PRIMARY KEY,
    handle TEXT UNIQUE NOT NULL,
    email TEXT,
    password_hash TEXT,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    signing_key BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Blocks of every repo in the tenant. `rev` is the rev of the commit that
-- last wrote the block (NULL for blocks stored outside a commit), for
-- `blocks_since`. A rowid table: blocks (MST nodes) can be a few KiB, too
-- large to sit well inside a WITHOUT ROWID b-tree.
CREATE TABLE repo_blocks (
    did TEXT NOT NULL,
    cid TEXT NOT NULL,
    bytes BLOB NOT NULL,
    rev TEXT,
    PRIMARY KEY (did, cid)
) STRICT;

CREATE INDEX repo_blocks_did_rev ON repo_blocks (did, rev);

-- The head of each repo; moved only by compare-and-swap.
CREATE TABLE repo_roots (
    did TEXT PRIMARY KEY,
    commit_cid TEXT NOT NULL,
    rev TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The records index, kept in the commit's transaction so listRecords never
-- walks the MST. Rows are small, so WITHOUT ROWID saves a second b-tree.
CREATE TABLE records (
    did TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey)
) STRICT, WITHOUT ROWID;

-- Whether a released record block is still used by another record.
CREATE INDEX records_did_cid ON records (did, cid);
