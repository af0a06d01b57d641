-- Named statements of the ended console sessions (notifier/store/ended_sessions.py), SQLite
-- dialect. The PostgreSQL file holds the same names; keep them in step. Times are epoch seconds.

-- name: end
-- A second logout of the same session (two tabs) keeps the first row.
INSERT INTO ended_sessions (nonce, expires_at) VALUES (:nonce, :expires_at)
ON CONFLICT (nonce) DO NOTHING

-- name: is_ended
-- One probe of the primary key: run on every console request.
SELECT 1 AS ended FROM ended_sessions WHERE nonce = :nonce

-- name: purge
-- Sessions whose cookie has expired by now: its signature refuses it without this row.
DELETE FROM ended_sessions WHERE expires_at < :now

-- name: count
SELECT count(*) AS n FROM ended_sessions
