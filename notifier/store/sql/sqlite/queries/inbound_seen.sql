-- Named statements of what inbound helpdesk webhooks already told (notifier/store/inbound_seen.py),
-- SQLite dialect. The PostgreSQL file holds the same names; keep them in step. Times are epoch seconds.

-- name: claim
-- The unique key decides, not a read before the write: of two processes given the same
-- request at once, one inserts and the other changes no row.
INSERT INTO inbound_seen (key, expires_at) VALUES (:key, :expires_at)
ON CONFLICT (key) DO NOTHING

-- name: forget
DELETE FROM inbound_seen WHERE key = :key

-- name: purge
-- Past expires_at a row proves nothing more: by then its signature's timestamp is refused,
-- or its ticket's case is purged.
DELETE FROM inbound_seen WHERE expires_at < :now

-- name: count
SELECT count(*) AS n FROM inbound_seen
