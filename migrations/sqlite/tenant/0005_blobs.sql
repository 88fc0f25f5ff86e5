-- Blobs (images, videos) of the tenant's accounts: metadata here, bytes in
-- the blob store (filesystem or S3) under <tenant>/<did>/<cid>.
-- Same tables as migrations/postgres/tenant/0005_blobs.sql.
--
-- status: 'stored' (servable, may be referenced) or 'deleting' (claimed by
-- the garbage collector: its bytes are being deleted; a record can no
-- longer reference it).
-- referenced: 1 once a record has referenced the blob. A never-referenced
-- blob is garbage after the grace period.
-- freed: 1 while a once-referenced blob has no reference left (kept by the
-- triggers below): garbage at once. The flags make every kind of garbage
-- an index lookup, so neither a commit nor a collection pass scans blobs.
CREATE TABLE blobs (
    did TEXT NOT NULL,
    cid TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('stored', 'deleting')),
    referenced INTEGER NOT NULL DEFAULT 0,
    freed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (did, cid)
) STRICT, WITHOUT ROWID;

-- The garbage collector's three kinds of candidates.
CREATE INDEX blobs_never_referenced ON blobs (created_at) WHERE referenced = 0 AND status = 'stored';
CREATE INDEX blobs_freed ON blobs (did) WHERE freed = 1 AND status = 'stored';
CREATE INDEX blobs_deleting ON blobs (did) WHERE status = 'deleting';

-- Which record references which blob, kept in the commit's transaction.
-- `rev` is the rev of the commit that wrote the record (listBlobs since).
CREATE TABLE record_blobs (
    did TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey TEXT NOT NULL,
    cid TEXT NOT NULL,
    rev TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey, cid)
) STRICT, WITHOUT ROWID;

CREATE INDEX record_blobs_did_cid ON record_blobs (did, cid);
CREATE INDEX record_blobs_did_rev ON record_blobs (did, rev);

-- A reference needs a stored blob of the same account; the message is
-- matched by the store to report `UnknownBlob`.
CREATE TRIGGER record_blobs_need_blob BEFORE INSERT ON record_blobs
BEGIN
    SELECT RAISE(ABORT, 'primal_pds_unknown_blob')
    WHERE NOT EXISTS (
        SELECT 1 FROM blobs b WHERE b.did = NEW.did AND b.cid = NEW.cid AND b.status = 'stored'
    );
    UPDATE blobs SET referenced = 1, freed = 0
    WHERE did = NEW.did AND cid = NEW.cid AND (referenced = 0 OR freed = 1);
END;

-- The last reference gone: the blob is freed.
CREATE TRIGGER record_blobs_free_blob AFTER DELETE ON record_blobs
BEGIN
    UPDATE blobs SET freed = 1
    WHERE did = OLD.did AND cid = OLD.cid AND freed = 0
      AND NOT EXISTS (SELECT 1 FROM record_blobs r WHERE r.did = OLD.did AND r.cid = OLD.cid);
END;
