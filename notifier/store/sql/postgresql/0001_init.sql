-- Events, deliveries and everything needed to deliver them exactly as planned.
-- The same tables as the SQLite schema; times are timestamptz, documents are jsonb.
CREATE TABLE events (
    id              text PRIMARY KEY,
    kind            text NOT NULL,
    site            text NOT NULL,
    conversation_id text,
    role            text,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    question_key    text,
    body            jsonb NOT NULL
);
CREATE INDEX events_occurred_at ON events (occurred_at);

CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    event_id         text NOT NULL REFERENCES events (id),
    route            text NOT NULL,
    channel          text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'claimed', 'sent', 'dead', 'suppressed')),
    priority         text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz,
    first_attempt_at timestamptz,
    sent_at          timestamptz,
    last_error       text,
    ref              text,
    folded           integer NOT NULL DEFAULT 0,
    dedup_key        text,
    keywords         text[],
    thread_key       text,
    progress         jsonb,
    claimed_by       text,
    lease_until      timestamptz,
    UNIQUE (event_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'claimed';
CREATE INDEX deliveries_status ON deliveries (status, created_at);

CREATE TABLE attempts (
    delivery_id text NOT NULL,
    number      integer NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL,
    reason      text NOT NULL,
    duration_ms double precision NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
CREATE INDEX attempts_at ON attempts (at);

CREATE TABLE dedup (
    key               text PRIMARY KEY,
    window_until      timestamptz NOT NULL,
    suppressed        integer NOT NULL,
    first_delivery_id text
);

CREATE TABLE threads (
    channel    text NOT NULL,
    thread_key text NOT NULL,
    ref        text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (channel, thread_key)
);

CREATE TABLE digest_runs (
    digest       text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    status       text NOT NULL,
    claimed_by   text NOT NULL,
    claimed_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    detail       text,
    PRIMARY KEY (digest, period_start)
);
