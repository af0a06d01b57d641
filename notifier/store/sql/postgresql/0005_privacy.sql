-- Subject requests (export, erasure): the key of the audit record's hashes, and the audit record.
-- The key is made once, on first use, unless channels.yaml gives one (defaults.privacy.audit_salt).
CREATE TABLE privacy_salt (
    id         integer PRIMARY KEY CHECK (id = 1),
    salt       text NOT NULL,
    created_at timestamptz NOT NULL
);

-- One row per erasure: never the identifier, only its keyed hash, who asked and what was removed.
CREATE TABLE erasures (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_digest text NOT NULL,
    subject_kind   text NOT NULL CHECK (subject_kind IN ('email', 'conversation')),
    erased_by      text NOT NULL,
    via            text NOT NULL,
    at             timestamptz NOT NULL,
    counts         jsonb NOT NULL
);
CREATE INDEX erasures_subject ON erasures (subject_digest);
