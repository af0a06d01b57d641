-- Events, deliveries and everything needed to deliver them exactly as planned.
-- Times are seconds since the epoch (REAL, UTC).
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    site            TEXT NOT NULL,
    conversation_id TEXT,
    role            TEXT,
    occurred_at     REAL NOT NULL,
    received_at     REAL NOT NULL,
    question_key    TEXT,
    body            TEXT NOT NULL
);
CREATE INDEX events_occurred_at ON events (occurred_at);

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES events (id),
    route            TEXT NOT NULL,
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'sent', 'dead', 'suppressed')),
    priority         TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    next_attempt_at  REAL,
    first_attempt_at REAL,
    sent_at          REAL,
    last_error       TEXT,
    ref              TEXT,
    folded           INTEGER NOT NULL DEFAULT 0,
    dedup_key        TEXT,
    keywords         TEXT,
    thread_key       TEXT,
    progress         TEXT,
    claimed_by       TEXT,
    lease_until      REAL,
    UNIQUE (event_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'claimed';
CREATE INDEX deliveries_status ON deliveries (status, created_at);

CREATE TABLE attempts (
    delivery_id TEXT NOT NULL,
    number      INTEGER NOT NULL,
    at          REAL NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
CREATE INDEX attempts_at ON attempts (at);

CREATE TABLE dedup (
    key               TEXT PRIMARY KEY,
    window_until      REAL NOT NULL,
    suppressed        INTEGER NOT NULL,
    first_delivery_id TEXT
);

CREATE TABLE threads (
    channel    TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    ref        TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (channel, thread_key)
);

CREATE TABLE digest_runs (
    digest       TEXT NOT NULL,
    period_start REAL NOT NULL,
    period_end   REAL NOT NULL,
    status       TEXT NOT NULL,
    claimed_by   TEXT NOT NULL,
    claimed_at   REAL NOT NULL,
    finished_at  REAL,
    detail       TEXT,
    PRIMARY KEY (digest, period_start)
);
