-- Sequencing from the tenant outboxes is idempotent: each event carries a
-- key (a hash of its unsequenced frame) that may be appended once, so a
-- sequencer that crashed after appending but before deleting from the
-- outbox appends nothing the second time. Deleting an account purges its
-- events by DID. `firehose_meta.pruned_through` is the highest seq removed
-- by retention pruning (cursors at or below it are outdated).

ALTER TABLE firehose_events ADD COLUMN event_key BYTEA;

CREATE UNIQUE INDEX firehose_events_event_key ON firehose_events (event_key);

CREATE INDEX firehose_events_did ON firehose_events (did);

CREATE TABLE firehose_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);

INSERT INTO firehose_meta (id, pruned_through) VALUES (1, 0);
