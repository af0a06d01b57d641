-- Follow-ups: an action on a case (claimed, resolved, reopened) told to every channel that
-- carried the case's alert. Each is a delivery (route 'follow-up'), so it is retried,
-- dead-lettered and replayed like any other; this row says which action it tells.
CREATE TABLE follow_ups (
    delivery_id TEXT PRIMARY KEY REFERENCES deliveries (id),
    case_id     TEXT NOT NULL REFERENCES cases (id),
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    via         TEXT NOT NULL,
    at          REAL NOT NULL,
    note        TEXT
);
CREATE INDEX follow_ups_case ON follow_ups (case_id);
