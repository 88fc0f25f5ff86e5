-- Per-domain blob storage quota in bytes (NULL: no quota); see
-- migrations/postgres/management/0004_blob_quotas.sql.
ALTER TABLE domains ADD COLUMN blob_quota_bytes INTEGER CHECK (blob_quota_bytes >= 0);
