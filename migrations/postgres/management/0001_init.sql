-- The management database (conventionally `primal_pds`): which domains are
-- hosted, on which server each tenant database lives, which domain hosts
-- each DID, and the firehose event log. Times are Unix milliseconds.

CREATE TABLE domains (
    id          BIGSERIAL PRIMARY KEY,
    domain      TEXT UNIQUE NOT NULL,
    db_name     TEXT UNIQUE NOT NULL,
    server      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Placement counts tenants per server.
CREATE INDEX domains_server ON domains (server);

CREATE TABLE did_routing (
    did         TEXT PRIMARY KEY,
    domain      TEXT NOT NULL REFERENCES domains (domain) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL
);

-- The cascade from `domains` looks routes up by domain.
CREATE INDEX did_routing_domain ON did_routing (domain);

CREATE TABLE firehose_events (
    seq         BIGSERIAL PRIMARY KEY,
    did         TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    frame       BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Pruning deletes old events by time.
CREATE INDEX firehose_events_created_at ON firehose_events (created_at);
