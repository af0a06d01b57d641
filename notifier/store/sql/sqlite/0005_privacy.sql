-- Subject requests (export, erasure): the key of the audit record's hashes, and the audit record.
-- The key is made once, on first use, unless channels.yaml gives one (defaults.privacy.audit_salt).
CREATE TABLE privacy_salt (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    salt       TEXT NOT NULL,
    created_at REAL NOT NULL
);

-- One row per erasure: never the identifier, only its keyed hash, who asked and what was removed.
CREATE TABLE erasures (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_digest TEXT NOT NULL,
    subject_kind   TEXT NOT NULL CHECK (subject_kind IN ('email', 'conversation')),
    erased_by      TEXT NOT NULL,
    via            TEXT NOT NULL,
    at             REAL NOT NULL,
    counts         TEXT NOT NULL
);
CREATE INDEX erasures_subject ON erasures (subject_digest)
