-- Management database of the SQLite backend (<data_dir>/primal_pds.sqlite):
-- the hosted domains, which domain each DID lives in, and firehose events.
-- Same tables and columns as migrations/postgres/management/0001_init.sql.
-- Times are Unix milliseconds. STRICT tables refuse values of the wrong type.

CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    domain TEXT UNIQUE NOT NULL,
    db_name TEXT UNIQUE NOT NULL,
    server TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE did_routing (
    did TEXT PRIMARY KEY,
    domain TEXT NOT NULL REFERENCES domains (domain) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) STRICT;

-- Removing a domain deletes its routes by cascade: without this index every
-- cascade would scan the whole table.
CREATE INDEX did_routing_domain ON did_routing (domain);

CREATE TABLE firehose_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    did TEXT NOT NULL,
    event_type TEXT NOT NULL,
    frame BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Pruning old events.
CREATE INDEX firehose_events_created_at ON firehose_events (created_at);
