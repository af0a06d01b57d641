-- Measures of the support team's answers: how long each case round waited to be claimed
-- and resolved (written when the action is recorded), and the users' ratings (feedback
-- events) with the case they were about. No foreign keys: a purge or an erasure of cases
-- and events removes these rows itself, in any order. Times are epoch seconds.
CREATE TABLE case_measures (
    case_id          TEXT NOT NULL,
    round            INTEGER NOT NULL,
    measure          TEXT NOT NULL CHECK (measure IN ('claim', 'resolve')),
    site             TEXT NOT NULL,
    agent            TEXT NOT NULL,
    via              TEXT NOT NULL,
    opened_at        REAL NOT NULL,
    at               REAL NOT NULL,
    seconds          REAL NOT NULL,
    business_seconds REAL NOT NULL,
    late             INTEGER NOT NULL,
    PRIMARY KEY (case_id, round, measure)
);
CREATE INDEX case_measures_at ON case_measures (at);

CREATE TABLE case_feedback (
    event_id TEXT PRIMARY KEY,
    case_id  TEXT,
    site     TEXT NOT NULL,
    agent    TEXT,
    rating   INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    at       REAL NOT NULL
);
CREATE INDEX case_feedback_at ON case_feedback (at);
CREATE INDEX case_feedback_case ON case_feedback (case_id);
