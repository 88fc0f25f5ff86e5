-- Accounts get a sequential `id` (creation order), as the Go primal-pds API
-- returns one per account; existing accounts are numbered by the ALTER.
-- Handles are listed and paged in byte order, so the column takes the "C"
-- collation (the unique index is rebuilt with it).

ALTER TABLE accounts ADD COLUMN id BIGSERIAL UNIQUE;

ALTER TABLE accounts ALTER COLUMN handle TYPE TEXT COLLATE "C";
