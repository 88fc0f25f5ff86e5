-- The firehose outbox (see migrations/sqlite/tenant/0003_firehose_outbox.sql):
-- events inserted in the transaction of the change they report, moved to
-- the management database's firehose_events by the sequencer. A commit's
-- events are inserted by `apply_commit` itself, which gains five arrays.

CREATE TABLE firehose_outbox (
    id             BIGSERIAL PRIMARY KEY,
    did            TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    purge_earlier  BOOLEAN NOT NULL,
    frame          BYTEA NOT NULL,
    seq_at         INTEGER NOT NULL,
    created_at     BIGINT NOT NULL
);

DROP FUNCTION apply_commit(TEXT, TEXT, TEXT, TEXT, TEXT[], BYTEA[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[]);

-- As in 0001, plus: after a successful swap, the commit's events
-- (p_ev_* arrays, one element per event, in order) go into the outbox.
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
    p_released         TEXT[],
    p_ev_types         TEXT[],
    p_ev_purge         BOOLEAN[],
    p_ev_frames        BYTEA[],
    p_ev_seq_at        INTEGER[],
    p_now              BIGINT
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

    IF cardinality(p_ev_frames) > 0 THEN
        INSERT INTO firehose_outbox (did, event_type, purge_earlier, frame, seq_at, created_at)
        SELECT p_did, e.event_type, e.purge, e.frame, e.seq_at, p_now
        FROM unnest(p_ev_types, p_ev_purge, p_ev_frames, p_ev_seq_at) WITH ORDINALITY
             AS e (event_type, purge, frame, seq_at, n)
        ORDER BY e.n;
    END IF;

    RETURN QUERY SELECT true, p_commit;
END
$$;
