-- Retention: the daily purge claims its day once across processes (a unique row per day),
-- and finds what is past its age through these indexes without reading the tables.
CREATE TABLE purge_runs (
    day         TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    claimed_by  TEXT NOT NULL,
    claimed_at  REAL NOT NULL,
    finished_at REAL,
    removed     TEXT
);
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX dedup_window_until ON dedup (window_until);
CREATE INDEX threads_created_at ON threads (created_at);
CREATE INDEX cases_updated_at ON cases (updated_at);
