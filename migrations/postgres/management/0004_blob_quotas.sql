-- Per-domain blob storage quota in bytes (NULL: no quota), set through the
-- management API and enforced on upload.
ALTER TABLE domains ADD COLUMN blob_quota_bytes BIGINT CHECK (blob_quota_bytes >= 0);
