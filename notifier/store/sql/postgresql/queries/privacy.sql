-- Named statements of subject requests (notifier/store/privacy.py), PostgreSQL dialect.
-- The SQLite file holds the same names; keep them in step. Lists travel as JSON arrays.

-- name: events_of_conversation
SELECT id, kind, site, conversation_id, role, occurred_at, received_at, body FROM events
WHERE conversation_id = %(conversation)s

-- name: sites_of_conversation
-- The sites holding a conversation with this id (each site's chatbot numbers its own).
SELECT DISTINCT site FROM events WHERE conversation_id = %(conversation)s

-- name: events_mentioning
-- Candidates only: the caller folds and confirms each in Python. ILIKE ignores ASCII case
-- alone under the C locale; %(variants)s (a bracket of characters) catches a text naming the
-- address in other Unicode forms (fullwidth, ligatures, ß…), %(encoded)s those characters
-- percent-encoded in a URL (searched only in a text holding a %%: far the slower).
SELECT id, kind, site, conversation_id, role, occurred_at, received_at, body FROM events
WHERE body::text ILIKE %(a)s ESCAPE '\' OR body::text ILIKE %(b)s ESCAPE '\' OR id ILIKE %(a)s ESCAPE '\'
    OR body::text ~ %(variants)s OR (strpos(body::text, '%%') > 0 AND body::text ~* %(encoded)s)
    OR id ~ %(variants)s OR (strpos(id, '%%') > 0 AND id ~* %(encoded)s)

-- name: events_mentioning_since
-- The same, among events received since %(since)s only.
SELECT id, kind, site, conversation_id, role, occurred_at, received_at, body FROM events
WHERE received_at >= %(since)s AND (body::text ILIKE %(a)s ESCAPE '\' OR body::text ILIKE %(b)s ESCAPE '\'
                                    OR id ILIKE %(a)s ESCAPE '\'
                                    OR body::text ~ %(variants)s OR (strpos(body::text, '%%') > 0 AND body::text ~* %(encoded)s)
                                    OR id ~ %(variants)s OR (strpos(id, '%%') > 0 AND id ~* %(encoded)s))

-- name: events_by_ids
SELECT id, kind, site, conversation_id, role, occurred_at, received_at, body FROM events
WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: events_of_conversations
-- pairs: [[site, conversation_id], …]
SELECT id, kind, site, conversation_id, role, occurred_at, received_at, body FROM events
WHERE (site, conversation_id) IN (SELECT x->>0, x->>1 FROM jsonb_array_elements(CAST(%(pairs)s AS jsonb)) x)

-- name: cases_of_events
SELECT DISTINCT case_id FROM case_events WHERE event_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: events_of_cases
-- What notifier wrote for these cases (escalations, acknowledgements, follow-ups: any kind
-- a visitor cannot send): copies of the request.
SELECT e.id, e.kind, e.site, e.conversation_id, e.role, e.occurred_at, e.received_at, e.body
FROM case_events ce JOIN events e ON e.id = ce.event_id
WHERE ce.case_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))) AND e.kind NOT IN (SELECT jsonb_array_elements_text(CAST(%(visitor_kinds)s AS jsonb)))

-- name: cases
SELECT * FROM cases WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))) ORDER BY opened_at, id

-- name: actions
SELECT id, case_id, action, actor, via, at, note, outcome FROM case_actions
WHERE case_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))) ORDER BY id

-- name: deliveries
SELECT id, event_id, route, channel, status, priority, attempts, created_at, sent_at, last_error, ref,
       folded, dedup_key, thread_key
FROM deliveries WHERE event_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))) ORDER BY created_at, id

-- name: attempts
SELECT delivery_id, number, at, outcome, reason, duration_ms FROM attempts
WHERE delivery_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))) ORDER BY delivery_id, number

-- name: notes_mentioning
-- Notes of any case that may name the subject (confirmed in Python), as events_mentioning.
SELECT 'case' AS source, id, note, id AS case_id FROM cases
WHERE note ILIKE %(a)s ESCAPE '\' OR note ILIKE %(b)s ESCAPE '\' OR note ~ %(variants)s
    OR (strpos(note, '%%') > 0 AND note ~* %(encoded)s)
UNION ALL
SELECT 'action', CAST(id AS TEXT), note, case_id FROM case_actions
WHERE note ILIKE %(a)s ESCAPE '\' OR note ILIKE %(b)s ESCAPE '\' OR note ~ %(variants)s
    OR (strpos(note, '%%') > 0 AND note ~* %(encoded)s)
UNION ALL
SELECT 'follow_up', delivery_id, note, case_id FROM follow_ups
WHERE note ILIKE %(a)s ESCAPE '\' OR note ILIKE %(b)s ESCAPE '\' OR note ~ %(variants)s
    OR (strpos(note, '%%') > 0 AND note ~* %(encoded)s)

-- name: tombstone_event
-- What the digest counts stays (kind, site, time, role); what the person wrote or was goes.
-- erased_at marks it where no visitor writes (its labels are the visitor's): a replay sends nothing.
UPDATE events SET body = CAST(%(body)s AS jsonb), conversation_id = %(conversation_id)s, question_key = NULL,
    erased_at = %(now)s
WHERE id = %(id)s

-- name: delete_attempts
DELETE FROM attempts WHERE delivery_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: delete_deliveries
DELETE FROM deliveries WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: delete_case_links
DELETE FROM case_events WHERE event_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: delete_events
DELETE FROM events WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: forget_attempt_reasons
UPDATE attempts SET reason = '' WHERE delivery_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: forget_deliveries
-- Counted by status and channel still; no key, thread, reference or error text left. A
-- delivery not sent yet is not sent at all.
UPDATE deliveries SET dedup_key = NULL, thread_key = NULL, ref = NULL, progress = NULL,
    last_error = CASE WHEN last_error IS NULL THEN NULL ELSE '[erased]' END,
    status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END,
    next_attempt_at = CASE WHEN status = 'pending' THEN NULL ELSE next_attempt_at END
WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: delete_dedup
DELETE FROM dedup WHERE key IN (SELECT jsonb_array_elements_text(CAST(%(keys)s AS jsonb)))
    OR first_delivery_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: delete_threads
-- pairs: [[channel, thread_key], …]
DELETE FROM threads WHERE (channel, thread_key) IN (SELECT x->>0, x->>1 FROM jsonb_array_elements(CAST(%(pairs)s AS jsonb)) x)

-- name: forget_cases
UPDATE cases SET identity = 'erased:' || id, conversation_id = NULL, note = NULL
WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: cancel_timers
-- The erased cases' escalation steps still to come: nothing is left to send, so none fires.
UPDATE case_timers SET status = 'cancelled', cancelled_because = 'erased'
WHERE status = 'pending' AND case_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: close_cases
-- The erased cases still waiting (or held): nobody is left to answer, so they leave the queue
-- and the late counts; resolved_because says nobody answered (no response time counts them).
UPDATE cases SET status = 'resolved', resolved_because = 'erased', resolved_at = %(now)s, updated_at = %(now)s
WHERE status <> 'resolved' AND id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))
RETURNING id

-- name: record_closing
-- Each closed case's history says the erasure closed it, who ran it and why.
INSERT INTO case_actions (case_id, action, actor, via, at, note, outcome)
SELECT x, 'resolve', %(actor)s, 'erasure', %(now)s, %(note)s, 'done'
FROM jsonb_array_elements_text(CAST(%(ids)s AS jsonb)) AS x

-- name: erased_among
-- Which of these events (a JSON array of ids) an erasure anonymised.
SELECT id FROM events WHERE erased_at IS NOT NULL AND id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: forget_case_notes
UPDATE cases SET note = NULL WHERE id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: forget_action_notes
UPDATE case_actions SET note = NULL
WHERE note IS NOT NULL AND (case_id IN (SELECT jsonb_array_elements_text(CAST(%(cases)s AS jsonb)))
                            OR CAST(id AS TEXT) IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))))

-- name: salt
SELECT salt FROM privacy_salt WHERE id = 1

-- name: make_salt
INSERT INTO privacy_salt (id, salt, created_at) VALUES (1, %(salt)s, %(now)s) ON CONFLICT (id) DO NOTHING

-- name: record_erasure
INSERT INTO erasures (subject_digest, subject_kind, erased_by, via, at, counts)
VALUES (%(digest)s, %(kind)s, %(erased_by)s, %(via)s, %(now)s, CAST(%(counts)s AS jsonb))

-- name: erasures
SELECT id, subject_digest, subject_kind, erased_by, via, at, counts FROM erasures
WHERE (CAST(%(digest)s AS TEXT) IS NULL OR subject_digest = %(digest)s) ORDER BY id DESC LIMIT %(limit)s

-- name: forget_follow_up_notes
-- A follow-up tells a channel an action, with its note: the same note goes.
UPDATE follow_ups SET note = NULL
WHERE note IS NOT NULL AND (case_id IN (SELECT jsonb_array_elements_text(CAST(%(cases)s AS jsonb))) OR delivery_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))))

-- name: delete_follow_ups
DELETE FROM follow_ups WHERE delivery_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))

-- name: delete_feedback
DELETE FROM case_feedback WHERE event_id IN (SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb)))
