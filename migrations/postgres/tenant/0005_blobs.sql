-- Blobs (images, videos) of the tenant's accounts; see
-- migrations/sqlite/tenant/0005_blobs.sql for the meaning of each column
-- and of the triggers.
CREATE TABLE blobs (
    did         TEXT NOT NULL,
    cid         TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('stored', 'deleting')),
    referenced  BOOLEAN NOT NULL DEFAULT false,
    freed       BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (did, cid)
);

CREATE INDEX blobs_never_referenced ON blobs (created_at) WHERE NOT referenced AND status = 'stored';
CREATE INDEX blobs_freed ON blobs (did) WHERE freed AND status = 'stored';
CREATE INDEX blobs_deleting ON blobs (did) WHERE status = 'deleting';

CREATE TABLE record_blobs (
    did         TEXT NOT NULL,
    collection  TEXT NOT NULL,
    rkey        TEXT NOT NULL,
    cid         TEXT NOT NULL,
    rev         TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey, cid)
);

CREATE INDEX record_blobs_did_cid ON record_blobs (did, cid);
CREATE INDEX record_blobs_did_rev ON record_blobs (did, rev);

-- A reference needs a stored blob of the same account. FOR SHARE locks
-- the blob row until the commit ends, so the garbage collector (which
-- locks candidates FOR UPDATE, then re-checks references in a new
-- statement) can never delete a blob a committing record uses.
-- SQLSTATE PB001 is matched by the store to report `UnknownBlob`.
CREATE FUNCTION record_blobs_need_blob() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM blobs
    WHERE did = NEW.did AND cid = NEW.cid AND status = 'stored'
    FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PB001', MESSAGE = NEW.cid;
    END IF;
    UPDATE blobs SET referenced = true, freed = false
    WHERE did = NEW.did AND cid = NEW.cid AND (NOT referenced OR freed);
    RETURN NEW;
END
$$;

CREATE TRIGGER record_blobs_need_blob BEFORE INSERT ON record_blobs
FOR EACH ROW EXECUTE FUNCTION record_blobs_need_blob();

-- The last reference gone: the blob is freed.
CREATE FUNCTION record_blobs_free_blob() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blobs SET freed = true
    WHERE did = OLD.did AND cid = OLD.cid AND NOT freed
      AND NOT EXISTS (SELECT 1 FROM record_blobs r WHERE r.did = OLD.did AND r.cid = OLD.cid);
    RETURN NULL;
END
$$;

CREATE TRIGGER record_blobs_free_blob AFTER DELETE ON record_blobs
FOR EACH ROW EXECUTE FUNCTION record_blobs_free_blob();

-- The blob references of a commit, run in the statement that calls
-- apply_commit (so in its transaction), only when the swap happened:
-- every changed record path (p_paths_*) drops its old references, then
-- p_ref_* (one element per reference) are inserted at rev p_rev.
CREATE FUNCTION sync_record_blobs(
    p_applied          BOOLEAN,
    p_did              TEXT,
    p_rev              TEXT,
    p_path_collections TEXT[],
    p_path_rkeys       TEXT[],
    p_ref_collections  TEXT[],
    p_ref_rkeys        TEXT[],
    p_ref_cids         TEXT[]
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_applied THEN
        RETURN false;
    END IF;
    DELETE FROM record_blobs rb
    USING unnest(p_path_collections, p_path_rkeys) AS p (collection, rkey)
    WHERE rb.did = p_did AND rb.collection = p.collection AND rb.rkey = p.rkey;
    IF cardinality(p_ref_cids) > 0 THEN
        INSERT INTO record_blobs (did, collection, rkey, cid, rev)
        SELECT p_did, r.collection, r.rkey, r.cid, p_rev
        FROM unnest(p_ref_collections, p_ref_rkeys, p_ref_cids) AS r (collection, rkey, cid)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN true;
END
$$;
