-- Named statements of the cases layer (notifier/store/cases.py), PostgreSQL dialect.
-- The SQLite file holds the same names; keep them in step.

-- name: open_or_join
-- One statement per batch (a JSON array of one row per identity, in identity order), so
-- two requests of one conversation arriving together share one case and two batches lock
-- cases in the same order. n: how many of the batch's events are this identity's.
INSERT INTO cases (id, identity, site, conversation_id, kind, route, locale, status, round,
                   round_events, events, opened_at, round_opened_at, updated_at, expected_response_at)
SELECT r.id, r.identity, r.site, r.conversation_id, r.kind, r.route, r.locale, 'open', 1, r.n, r.n,
       %(now)s, %(now)s, %(now)s, to_timestamp(r.expected)
FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(id text, identity text, site text, conversation_id text,
                                                     kind text, route text, locale text, n integer,
                                                     expected double precision)
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
SELECT r.case_id, r.event_id, r.round, %(now)s
FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(case_id text, event_id text, round integer)
ON CONFLICT DO NOTHING

-- name: arm_timers
INSERT INTO case_timers (case_id, round, step, route, due_at, channels, status)
SELECT r.case_id, r.round, r.step, r.route, to_timestamp(r.due_at), r.channels, 'pending'
FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(case_id text, round integer, step integer, route text,
                                                     due_at double precision, channels text)
ON CONFLICT DO NOTHING

-- name: reopen_by_identity
-- The user wrote again in a conversation whose case was resolved.
UPDATE cases SET status = 'reopened', round = round + 1, round_events = 1, events = events + 1,
    round_opened_at = %(now)s, updated_at = %(now)s, expected_response_at = %(expected)s,
    claimed_by = NULL, claimed_at = NULL
WHERE identity = %(identity)s AND status = 'resolved'
RETURNING id, status, round, round_events, expected_response_at, route, locale

-- name: link_event
INSERT INTO case_events (case_id, event_id, round, at) VALUES (%(case_id)s, %(event_id)s, %(round)s, %(now)s)
ON CONFLICT DO NOTHING

-- name: case_of_event
SELECT c.id, c.status, c.round, c.expected_response_at, c.locale
FROM case_events ce JOIN cases c ON c.id = ce.case_id WHERE ce.event_id = %(event_id)s

-- name: get
SELECT * FROM cases WHERE id = %(id)s

-- name: list
SELECT * FROM cases
WHERE (CAST(%(status)s AS TEXT) IS NULL OR status = %(status)s)
  AND (CAST(%(site)s AS TEXT) IS NULL OR site = %(site)s)
  AND (CAST(%(sites)s AS jsonb) IS NULL OR site IN (SELECT jsonb_array_elements_text(CAST(%(sites)s AS jsonb))))
ORDER BY updated_at DESC, id LIMIT %(limit)s

-- name: claim
-- With a round (an action link names the one it was sent for), only in that round.
UPDATE cases SET status = 'claimed', claimed_by = %(actor)s, claimed_at = %(now)s, updated_at = %(now)s
WHERE id = %(id)s AND status IN ('open', 'reopened') AND (CAST(%(round)s AS integer) IS NULL OR round = %(round)s)
RETURNING id

-- name: resolve
UPDATE cases SET status = 'resolved', resolved_by = %(actor)s, resolved_at = %(now)s, note = %(note)s,
    updated_at = %(now)s
WHERE id = %(id)s AND status <> 'resolved' AND (CAST(%(round)s AS integer) IS NULL OR round = %(round)s)
RETURNING id

-- name: reopen
-- Never a case whose visitor was erased: nobody is left to answer.
UPDATE cases SET status = 'reopened', round = round + 1, round_events = 0, round_opened_at = %(now)s,
    updated_at = %(now)s, expected_response_at = %(expected)s, claimed_by = NULL, claimed_at = NULL
WHERE id = %(id)s AND status = 'resolved' AND identity <> 'erased:' || id
RETURNING id, round, route

-- name: record_action
INSERT INTO case_actions (case_id, action, actor, via, at, note, outcome)
VALUES (%(case_id)s, %(action)s, %(actor)s, %(via)s, %(now)s, %(note)s, %(outcome)s)

-- name: actions
SELECT action, actor, via, at, note, outcome FROM case_actions WHERE case_id = %(case_id)s ORDER BY id

-- name: events
SELECT ce.event_id, ce.round, ce.at, e.kind, e.body
FROM case_events ce JOIN events e ON e.id = ce.event_id
WHERE ce.case_id = %(case_id)s ORDER BY ce.at, ce.event_id

-- name: deliveries
SELECT d.id, d.event_id, d.route, d.channel, d.status, d.attempts, d.created_at, d.sent_at, d.last_error
FROM case_events ce JOIN deliveries d ON d.event_id = ce.event_id
WHERE ce.case_id = %(case_id)s ORDER BY d.created_at, d.id


-- name: cancel_timers
-- reason: the action that took the case ('claim', 'resolve').
UPDATE case_timers SET status = 'cancelled', cancelled_because = %(reason)s
WHERE case_id = %(case_id)s AND status = 'pending'

-- name: cancel_escalations
UPDATE deliveries SET status = 'suppressed', next_attempt_at = NULL
WHERE route = 'escalation' AND status = 'pending'
  AND event_id IN (SELECT event_id FROM case_events WHERE case_id = %(case_id)s)

-- name: timers
SELECT round, step, route, due_at, channels, status, cancelled_because, fired_at, fired_by FROM case_timers
WHERE case_id = %(case_id)s ORDER BY round, step

-- name: take_due_timers
-- Rows another process is firing are skipped, not waited for; each timer moves to 'fired' once.
-- The case row is locked too: a case that a claim or a resolution is changing right now is
-- skipped (its timers are cancelled when that commits, or fire on the next look), never fired
-- on the state it had before.
UPDATE case_timers t SET status = 'fired', fired_at = %(now)s, fired_by = %(worker)s
FROM (
    SELECT t2.case_id, t2.round, t2.step FROM case_timers t2 JOIN cases c ON c.id = t2.case_id
    WHERE t2.status = 'pending' AND t2.due_at <= %(now)s
      AND c.status IN ('open', 'reopened') AND c.round = t2.round
    ORDER BY t2.due_at LIMIT %(limit)s
    FOR UPDATE OF t2, c SKIP LOCKED) due
WHERE t.case_id = due.case_id AND t.round = due.round AND t.step = due.step
RETURNING t.case_id, t.round, t.step, t.route, t.due_at, t.channels

-- name: next_timer
SELECT min(due_at) AS due_at FROM case_timers WHERE status = 'pending'

-- name: resolved_among
-- Which of these identities (a JSON array) have a resolved case: one query for a whole batch.
SELECT identity, route FROM cases WHERE status = 'resolved'
  AND identity IN (SELECT jsonb_array_elements_text(CAST(%(identities)s AS jsonb)))

-- name: latest_event
-- The case's most recent request (not one notifier wrote): what an escalation shows.
SELECT e.body FROM case_events ce JOIN events e ON e.id = ce.event_id
WHERE ce.case_id = %(case_id)s AND e.kind NOT IN ('escalation', 'acknowledgement', 'follow_up')
ORDER BY ce.at DESC, ce.event_id DESC LIMIT 1


-- name: insert_internal_event
-- An event notifier itself writes (an escalation, an acknowledgement to the user): its kind
-- column ('escalation', 'acknowledgement', 'follow_up') keeps it out of the digest's counts of what users
-- did; its body is the case's request, which the channels render.
INSERT INTO events (id, kind, site, conversation_id, role, occurred_at, received_at, question_key, body)
VALUES (%(id)s, %(kind)s, %(site)s, NULL, NULL, %(now)s, %(now)s, NULL, CAST(%(body)s AS jsonb))
ON CONFLICT (id) DO NOTHING
