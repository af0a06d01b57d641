-- Named statements of what inbound helpdesk webhooks already told (notifier/store/inbound_seen.py),
-- PostgreSQL dialect. The SQLite file holds the same names; keep them in step. Times are timestamptz.

-- name: claim
-- The unique key decides, not a read before the write: of two processes given the same
-- request at once, one inserts and the other changes no row.
INSERT INTO inbound_seen (key, expires_at) VALUES (%(key)s, %(expires_at)s)
ON CONFLICT (key) DO NOTHING

-- name: forget
DELETE FROM inbound_seen WHERE key = %(key)s

-- name: purge
-- Past expires_at a row proves nothing more: by then its signature's timestamp is refused,
-- or its ticket's case is purged.
DELETE FROM inbound_seen WHERE expires_at < %(now)s

-- name: count
SELECT count(*) AS n FROM inbound_seen
