-- Session ids: a session keeps its id through refresh token rotations, and
-- access tokens carry it (the JWT `sid`), so an access token works only
-- while its session has a refresh token. Same column as
-- migrations/sqlite/tenant/0006_session_ids.sql.
-- A refresh token from before this migration is its own session.

ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
UPDATE refresh_tokens SET session_id = id;

-- Whether a session is alive (every authenticated request, at most every few seconds).
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
