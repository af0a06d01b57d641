-- Retention: the daily purge claims its day once across processes (a unique row per day),
-- and finds what is past its age through these indexes without reading the tables.
CREATE TABLE purge_runs (
    day         text PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    claimed_by  text NOT NULL,
    claimed_at  timestamptz NOT NULL,
    finished_at timestamptz,
    removed     jsonb
);
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX dedup_window_until ON dedup (window_until);
CREATE INDEX threads_created_at ON threads (created_at);
CREATE INDEX cases_updated_at ON cases (updated_at);
