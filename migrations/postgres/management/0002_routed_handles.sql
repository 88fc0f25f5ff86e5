-- Handles are claimed host-wide: each routed DID records its handle, and no
-- two DIDs on the host may hold the same one (routes of older versions
-- have none: NULLs do not collide in a unique constraint).

ALTER TABLE did_routing ADD COLUMN handle TEXT;

ALTER TABLE did_routing ADD CONSTRAINT did_routing_handle_key UNIQUE (handle);
