-- Named statements of the cases layer (notifier/store/cases.py), SQLite dialect.
-- The PostgreSQL file holds the same names; keep them in step.

-- name: open_or_join
-- One statement per batch (a JSON array of one row per identity, in identity order), so
-- two requests of one conversation arriving together share one case and two batches lock
-- cases in the same order. n: how many of the batch's events are this identity's.
INSERT INTO cases (id, identity, site, conversation_id, kind, route, locale, status, round,
                   round_events, events, opened_at, round_opened_at, updated_at, expected_response_at)
SELECT json_extract(value, '$.id'), json_extract(value, '$.identity'), json_extract(value, '$.site'),
       json_extract(value, '$.conversation_id'), json_extract(value, '$.kind'), json_extract(value, '$.route'),
       json_extract(value, '$.locale'), 'open', 1, json_extract(value, '$.n'), json_extract(value, '$.n'),
       :now, :now, :now, json_extract(value, '$.expected')
FROM json_each(:rows) WHERE true
ON CONFLICT (identity) DO UPDATE SET
    events = cases.events + excluded.events,
    updated_at = excluded.updated_at,
    round_events = CASE WHEN cases.status = 'resolved' THEN excluded.round_events
                        ELSE cases.round_events + excluded.round_events END,
    round = CASE WHEN cases.status = 'resolved' THEN cases.round + 1 ELSE cases.round END,
    round_opened_at = CASE WHEN cases.status = 'resolved' THEN excluded.round_opened_at
                           ELSE cases.round_opened_at END,
    expected_response_at = CASE WHEN cases.status = 'resolved' THEN excluded.expected_response_at
                                ELSE cases.expected_response_at END,
    route = CASE WHEN cases.status = 'resolved' THEN excluded.route ELSE cases.route END,
    claimed_by = CASE WHEN cases.status = 'resolved' THEN NULL ELSE cases.claimed_by END,
    claimed_at = CASE WHEN cases.status = 'resolved' THEN NULL ELSE cases.claimed_at END,
    status = CASE WHEN cases.status = 'resolved' THEN 'reopened' ELSE cases.status END
RETURNING identity, id, status, round, round_events, expected_response_at, route, locale

-- name: link_events
INSERT INTO case_events (case_id, event_id, round, at)
SELECT json_extract(value, '$.case_id'), json_extract(value, '$.event_id'), json_extract(value, '$.round'), :now
FROM json_each(:rows) WHERE true
ON CONFLICT DO NOTHING

-- name: arm_timers
INSERT INTO case_timers (case_id, round, step, route, due_at, channels, status)
SELECT json_extract(value, '$.case_id'), json_extract(value, '$.round'), json_extract(value, '$.step'),
       json_extract(value, '$.route'), json_extract(value, '$.due_at'), json_extract(value, '$.channels'), 'pending'
FROM json_each(:rows) WHERE true
ON CONFLICT DO NOTHING

-- name: reopen_by_identity
-- The user wrote again in a conversation whose case was resolved.
UPDATE cases SET status = 'reopened', round = round + 1, round_events = 1, events = events + 1,
    round_opened_at = :now, updated_at = :now, expected_response_at = :expected,
    claimed_by = NULL, claimed_at = NULL
WHERE identity = :identity AND status = 'resolved'
RETURNING id, status, round, round_events, expected_response_at, route, locale

-- name: link_event
INSERT INTO case_events (case_id, event_id, round, at) VALUES (:case_id, :event_id, :round, :now)
ON CONFLICT DO NOTHING

-- name: case_of_event
SELECT c.id, c.status, c.round, c.expected_response_at, c.locale
FROM case_events ce JOIN cases c ON c.id = ce.case_id WHERE ce.event_id = :event_id

-- name: get
SELECT * FROM cases WHERE id = :id

-- name: list
SELECT * FROM cases
WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)
  AND (CAST(:site AS TEXT) IS NULL OR site = :site)
  -- :sites, a JSON array: the sites a token may see (NULL: every site), before the limit.
  AND (CAST(:sites AS TEXT) IS NULL OR site IN (SELECT value FROM json_each(:sites)))
ORDER BY updated_at DESC, id LIMIT :limit

-- name: claim
-- With a round (an action link names the one it was sent for), only in that round.
UPDATE cases SET status = 'claimed', claimed_by = :actor, claimed_at = :now, updated_at = :now
WHERE id = :id AND status IN ('open', 'reopened') AND (:round IS NULL OR round = :round)
RETURNING id

-- name: resolve
UPDATE cases SET status = 'resolved', resolved_by = :actor, resolved_at = :now, note = :note,
    updated_at = :now
WHERE id = :id AND status <> 'resolved' AND (:round IS NULL OR round = :round)
RETURNING id

-- name: reopen
-- Never a case whose visitor was erased: nobody is left to answer.
UPDATE cases SET status = 'reopened', round = round + 1, round_events = 0, round_opened_at = :now,
    updated_at = :now, expected_response_at = :expected, claimed_by = NULL, claimed_at = NULL
WHERE id = :id AND status = 'resolved' AND identity <> 'erased:' || id
RETURNING id, round, route

-- name: record_action
INSERT INTO case_actions (case_id, action, actor, via, at, note, outcome)
VALUES (:case_id, :action, :actor, :via, :now, :note, :outcome)

-- name: actions
SELECT action, actor, via, at, note, outcome FROM case_actions WHERE case_id = :case_id ORDER BY id

-- name: events
SELECT ce.event_id, ce.round, ce.at, e.kind, e.body
FROM case_events ce JOIN events e ON e.id = ce.event_id
WHERE ce.case_id = :case_id ORDER BY ce.at, ce.event_id

-- name: deliveries
SELECT d.id, d.event_id, d.route, d.channel, d.status, d.attempts, d.created_at, d.sent_at, d.last_error
FROM case_events ce JOIN deliveries d ON d.event_id = ce.event_id
WHERE ce.case_id = :case_id ORDER BY d.created_at, d.id


-- name: cancel_timers
-- reason: the action that took the case ('claim', 'resolve').
UPDATE case_timers SET status = 'cancelled', cancelled_because = :reason
WHERE case_id = :case_id AND status = 'pending'

-- name: cancel_escalations
-- An escalation that fired but waits for a retry (its channel failed) is not sent once
-- someone has the case: nobody is paged for a case already taken. One being sent goes on.
UPDATE deliveries SET status = 'suppressed', next_attempt_at = NULL
WHERE route = 'escalation' AND status = 'pending'
  AND event_id IN (SELECT event_id FROM case_events WHERE case_id = :case_id)

-- name: timers
SELECT round, step, route, due_at, channels, status, cancelled_because, fired_at, fired_by FROM case_timers
WHERE case_id = :case_id ORDER BY round, step

-- name: take_due_timers
-- The database is locked for writing (BEGIN IMMEDIATE): each timer moves to 'fired' once.
UPDATE case_timers SET status = 'fired', fired_at = :now, fired_by = :worker
WHERE rowid IN (
    SELECT t.rowid FROM case_timers t JOIN cases c ON c.id = t.case_id
    WHERE t.status = 'pending' AND t.due_at <= :now
      AND c.status IN ('open', 'reopened') AND c.round = t.round
    ORDER BY t.due_at LIMIT :limit)
RETURNING case_id, round, step, route, due_at, channels

-- name: next_timer
SELECT min(due_at) AS due_at FROM case_timers WHERE status = 'pending'

-- name: resolved_among
-- Which of these identities (a JSON array) have a resolved case: one query for a whole batch.
SELECT identity, route FROM cases WHERE status = 'resolved' AND identity IN (SELECT value FROM json_each(:identities))

-- name: latest_event
-- The case's most recent request (not one notifier wrote): what an escalation shows.
SELECT e.body FROM case_events ce JOIN events e ON e.id = ce.event_id
WHERE ce.case_id = :case_id AND e.kind NOT IN ('escalation', 'acknowledgement', 'follow_up')
ORDER BY ce.at DESC, ce.event_id DESC LIMIT 1


-- name: insert_internal_event
-- An event notifier itself writes (an escalation, an acknowledgement to the user): its kind
-- column ('escalation', 'acknowledgement', 'follow_up') keeps it out of the digest's counts of what users
-- did; its body is the case's request, which the channels render.
INSERT INTO events (id, kind, site, conversation_id, role, occurred_at, received_at, question_key, body)
VALUES (:id, :kind, :site, NULL, NULL, :now, :now, NULL, :body)
ON CONFLICT (id) DO NOTHING
