-- A tenant database (`primal_pds_<domain>`): the accounts of one hosted
-- domain and their repositories. Times are Unix milliseconds; CIDs are
-- base32 text. Key columns that are range-scanned or sorted (record keys,
-- collections, revs) use the "C" collation: byte order, as the AT Protocol
-- and the other backends compare them, whatever the server's locale.

CREATE TABLE accounts (
    did            TEXT PRIMARY KEY,
    handle         TEXT UNIQUE NOT NULL,
    email          TEXT,
    password_hash  TEXT,
    role           TEXT NOT NULL,
    status         TEXT NOT NULL,
    signing_key    BYTEA,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Every block of every repository; `rev` is the commit that last wrote the
-- block (NULL for blocks stored outside a commit).
CREATE TABLE repo_blocks (
    did    TEXT NOT NULL,
    cid    TEXT NOT NULL,
    bytes  BYTEA NOT NULL,
    rev    TEXT COLLATE "C" NULL,
    PRIMARY KEY (did, cid)
);

CREATE INDEX repo_blocks_did_rev ON repo_blocks (did, rev);

-- The head of each repository; moved only by compare-and-swap.
CREATE TABLE repo_roots (
    did         TEXT PRIMARY KEY,
    commit_cid  TEXT NOT NULL,
    rev         TEXT COLLATE "C" NOT NULL
);

-- The records index, kept in the commit's transaction.
CREATE TABLE records (
    did         TEXT NOT NULL,
    collection  TEXT COLLATE "C" NOT NULL,
    rkey        TEXT COLLATE "C" NOT NULL,
    cid         TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey)
);

-- Whether a released record block is still used by another record.
CREATE INDEX records_did_cid ON records (did, cid);

-- One commit in one statement (one round trip, one transaction): move the
-- root by compare-and-swap, and only if that succeeded delete the blocks the
-- commit replaced, write its blocks (tagged with its rev), update the
-- records index and delete released record blocks no record uses any more.
-- `p_expected` NULL means the repository must not exist yet. Returns
-- (true, new commit) or, when the root was not `p_expected`, (false, actual
-- root) having written nothing. Record changes must name each
-- (collection, rkey) at most once; a NULL CID deletes the record.
CREATE FUNCTION apply_commit(
    p_did              TEXT,
    p_expected         TEXT,
    p_commit           TEXT,
    p_rev              TEXT,
    p_block_cids       TEXT[],
    p_block_bytes      BYTEA[],
    p_removed          TEXT[],
    p_rec_collections  TEXT[],
    p_rec_rkeys        TEXT[],
    p_rec_cids         TEXT[],
    p_released         TEXT[]
) RETURNS TABLE (applied BOOLEAN, actual TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    moved INTEGER;
BEGIN
    IF p_expected IS NULL THEN
        INSERT INTO repo_roots (did, commit_cid, rev) VALUES (p_did, p_commit, p_rev)
        ON CONFLICT (did) DO NOTHING;
    ELSE
        UPDATE repo_roots SET commit_cid = p_commit, rev = p_rev
        WHERE did = p_did AND commit_cid = p_expected;
    END IF;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved = 0 THEN
        RETURN QUERY SELECT false, (SELECT r.commit_cid FROM repo_roots r WHERE r.did = p_did);
        RETURN;
    END IF;

    IF cardinality(p_removed) > 0 THEN
        DELETE FROM repo_blocks b WHERE b.did = p_did AND b.cid = ANY (p_removed);
    END IF;

    INSERT INTO repo_blocks (did, cid, bytes, rev)
    SELECT p_did, n.cid, n.bytes, p_rev FROM unnest(p_block_cids, p_block_bytes) AS n (cid, bytes)
    ON CONFLICT (did, cid) DO UPDATE SET rev = excluded.rev;

    IF cardinality(p_rec_cids) > 0 THEN
        INSERT INTO records (did, collection, rkey, cid)
        SELECT p_did, c.collection, c.rkey, c.cid
        FROM unnest(p_rec_collections, p_rec_rkeys, p_rec_cids) AS c (collection, rkey, cid)
        WHERE c.cid IS NOT NULL
        ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid;

        DELETE FROM records r
        USING unnest(p_rec_collections, p_rec_rkeys, p_rec_cids) AS c (collection, rkey, cid)
        WHERE c.cid IS NULL AND r.did = p_did AND r.collection = c.collection AND r.rkey = c.rkey;
    END IF;

    IF cardinality(p_released) > 0 THEN
        DELETE FROM repo_blocks b
        WHERE b.did = p_did AND b.cid = ANY (p_released)
          AND NOT EXISTS (SELECT 1 FROM records r WHERE r.did = p_did AND r.cid = b.cid);
    END IF;

    RETURN QUERY SELECT true, p_commit;
END
$$;
