-- The purge removes the dedup keys a removed delivery opened: found by this index, not by
-- reading the whole dedup table once per batch.
CREATE INDEX dedup_first_delivery ON dedup (first_delivery_id);
