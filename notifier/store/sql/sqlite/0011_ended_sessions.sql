-- Console sessions ended by a logout (notifier/store/ended_sessions.py). A session cookie is
-- signed, not stored, so a copy of it would work until it expires; this row refuses it in
-- every process sharing the database, and across restarts. Kept only until the cookie would
-- have expired anyway (expires_at, epoch seconds): a logout removes the rows past theirs.
CREATE TABLE ended_sessions (
    nonce      TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX ended_sessions_expires_at ON ended_sessions (expires_at);
