-- Named statements of the cases layer (notifier/store/cases.py), PostgreSQL dialect.
-- The SQLite file holds the same names; keep them in step.

-- name: open_or_join
-- One statement, so two requests of one conversation at once still share one case.
INSERT INTO cases (id, identity, site, conversation_id, kind, route, locale, status, round,
                   round_events, events, opened_at, round_opened_at, updated_at, expected_response_at)
VALUES (%(id)s, %(identity)s, %(site)s, %(conversation_id)s, %(kind)s, %(route)s, %(locale)s, 'open', 1,
        1, 1, %(now)s, %(now)s, %(now)s, %(expected)s)
ON CONFLICT (identity) DO UPDATE SET
    events = cases.events + 1,
    updated_at = excluded.updated_at,
    round_events = CASE WHEN cases.status = 'resolved' THEN 1 ELSE cases.round_events + 1 END,
    round = CASE WHEN cases.status = 'resolved' THEN cases.round + 1 ELSE cases.round END,
    round_opened_at = CASE WHEN cases.status = 'resolved' THEN excluded.round_opened_at
                           ELSE cases.round_opened_at END,
    expected_response_at = CASE WHEN cases.status = 'resolved' THEN excluded.expected_response_at
                                ELSE cases.expected_response_at END,
    route = CASE WHEN cases.status = 'resolved' THEN excluded.route ELSE cases.route END,
    claimed_by = CASE WHEN cases.status = 'resolved' THEN NULL ELSE cases.claimed_by END,
    claimed_at = CASE WHEN cases.status = 'resolved' THEN NULL ELSE cases.claimed_at END,
    status = CASE WHEN cases.status = 'resolved' THEN 'reopened' ELSE cases.status END
RETURNING id, status, round, round_events, expected_response_at, route, locale

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
ORDER BY updated_at DESC, id LIMIT %(limit)s

-- name: claim
UPDATE cases SET status = 'claimed', claimed_by = %(actor)s, claimed_at = %(now)s, updated_at = %(now)s
WHERE id = %(id)s AND status IN ('open', 'reopened')
RETURNING id

-- name: resolve
UPDATE cases SET status = 'resolved', resolved_by = %(actor)s, resolved_at = %(now)s, note = %(note)s,
    updated_at = %(now)s
WHERE id = %(id)s AND status <> 'resolved'
RETURNING id

-- name: reopen
UPDATE cases SET status = 'reopened', round = round + 1, round_events = 0, round_opened_at = %(now)s,
    updated_at = %(now)s, expected_response_at = %(expected)s, claimed_by = NULL, claimed_at = NULL
WHERE id = %(id)s AND status = 'resolved'
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

-- name: arm_timer
INSERT INTO case_timers (case_id, round, step, route, due_at, channels, status)
VALUES (%(case_id)s, %(round)s, %(step)s, %(route)s, %(due_at)s, %(channels)s, 'pending')
ON CONFLICT DO NOTHING

-- name: cancel_timers
UPDATE case_timers SET status = 'cancelled' WHERE case_id = %(case_id)s AND status = 'pending'

-- name: timers
SELECT round, step, route, due_at, channels, status, fired_at, fired_by FROM case_timers
WHERE case_id = %(case_id)s ORDER BY round, step

-- name: take_due_timers
-- Rows another process is firing are skipped, not waited for; each timer moves to 'fired' once.
UPDATE case_timers t SET status = 'fired', fired_at = %(now)s, fired_by = %(worker)s
FROM (
    SELECT t2.case_id, t2.round, t2.step FROM case_timers t2 JOIN cases c ON c.id = t2.case_id
    WHERE t2.status = 'pending' AND t2.due_at <= %(now)s
      AND c.status IN ('open', 'reopened') AND c.round = t2.round
    ORDER BY t2.due_at LIMIT %(limit)s
    FOR UPDATE OF t2 SKIP LOCKED) due
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
WHERE ce.case_id = %(case_id)s AND e.kind NOT IN ('escalation', 'acknowledgement')
ORDER BY ce.at DESC, ce.event_id DESC LIMIT 1


-- name: insert_internal_event
-- An event notifier itself writes (an escalation, an acknowledgement to the user): its kind
-- column ('escalation', 'acknowledgement') keeps it out of the digest's counts of what users
-- did; its body is the case's request, which the channels render.
INSERT INTO events (id, kind, site, conversation_id, role, occurred_at, received_at, question_key, body)
VALUES (%(id)s, %(kind)s, %(site)s, NULL, NULL, %(now)s, %(now)s, NULL, CAST(%(body)s AS jsonb))
ON CONFLICT (id) DO NOTHING
