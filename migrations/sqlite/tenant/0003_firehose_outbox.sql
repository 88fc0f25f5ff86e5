-- The firehose outbox: every event (a commit's #commit, account #identity /
-- #account / #sync) is inserted here in the same transaction as the change
-- it reports, then moved to the management database's firehose_events by
-- the sequencer (which assigns `seq`) and deleted. `frame` is the whole
-- frame without the body's `seq` entry, which goes at byte `seq_at`.
-- AUTOINCREMENT: ids are never reused, so they order the outbox.

CREATE TABLE firehose_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    did TEXT NOT NULL,
    event_type TEXT NOT NULL,
    purge_earlier INTEGER NOT NULL,
    frame BLOB NOT NULL,
    seq_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
