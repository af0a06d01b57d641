-- Cases: a person waiting for an answer, one row per conversation (or person), reopened
-- when they write again after it was resolved. Times are epoch seconds, as elsewhere.
CREATE TABLE cases (
    id                   TEXT PRIMARY KEY,
    identity             TEXT NOT NULL UNIQUE,
    site                 TEXT NOT NULL,
    conversation_id      TEXT,
    kind                 TEXT NOT NULL,
    route                TEXT,
    locale               TEXT,
    status               TEXT NOT NULL CHECK (status IN ('open', 'claimed', 'resolved', 'reopened')),
    round                INTEGER NOT NULL DEFAULT 1,
    round_events         INTEGER NOT NULL DEFAULT 1,
    events               INTEGER NOT NULL DEFAULT 1,
    opened_at            REAL NOT NULL,
    round_opened_at      REAL NOT NULL,
    updated_at           REAL NOT NULL,
    expected_response_at REAL,
    claimed_by           TEXT,
    claimed_at           REAL,
    resolved_by          TEXT,
    resolved_at          REAL,
    note                 TEXT
);
CREATE INDEX cases_status ON cases (status, updated_at);

CREATE TABLE case_events (
    case_id  TEXT NOT NULL REFERENCES cases (id),
    event_id TEXT NOT NULL REFERENCES events (id),
    round    INTEGER NOT NULL,
    at       REAL NOT NULL,
    PRIMARY KEY (case_id, event_id)
);
CREATE INDEX case_events_event ON case_events (event_id);

-- Every action asked for, whether it changed the case or not: who, when, from where.
CREATE TABLE case_actions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases (id),
    action  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    via     TEXT NOT NULL,
    at      REAL NOT NULL,
    note    TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX case_actions_case ON case_actions (case_id, id);

-- Escalation timers: stored, so they survive a restart; a conditional update fires each once.
CREATE TABLE case_timers (
    case_id  TEXT NOT NULL REFERENCES cases (id),
    round    INTEGER NOT NULL,
    step     INTEGER NOT NULL,
    route    TEXT NOT NULL,
    due_at   REAL NOT NULL,
    channels TEXT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
    fired_at REAL,
    fired_by TEXT,
    PRIMARY KEY (case_id, round, step)
);
CREATE INDEX case_timers_due ON case_timers (due_at) WHERE status = 'pending';
