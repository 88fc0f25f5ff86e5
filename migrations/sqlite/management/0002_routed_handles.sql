-- Handles are claimed host-wide: each routed DID records its handle, and no
-- two DIDs on the host may hold the same one (routes of older versions
-- have none: NULLs do not collide in a unique index).

ALTER TABLE did_routing ADD COLUMN handle TEXT;

CREATE UNIQUE INDEX did_routing_handle ON did_routing (handle);
