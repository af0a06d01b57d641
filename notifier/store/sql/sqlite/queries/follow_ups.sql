-- Named statements of the follow-ups layer (notifier/store/follow_ups.py), SQLite dialect.
-- The PostgreSQL file holds the same names; keep them in step.

-- name: carriers
-- The channels that carried the case's alert (its requests and escalations; not the
-- acknowledgement to the user, not earlier follow-ups), unless it died there.
SELECT DISTINCT d.channel FROM case_events ce JOIN deliveries d ON d.event_id = ce.event_id
WHERE ce.case_id = :case_id AND d.route NOT IN ('follow-up', 'acknowledge')
  AND d.status IN ('pending', 'claimed', 'sent')
ORDER BY d.channel

-- name: record
INSERT INTO follow_ups (delivery_id, case_id, action, actor, via, at, note)
SELECT json_extract(value, '$.delivery_id'), :case_id, :action, :actor, :via, :now, :note
FROM json_each(:rows) WHERE true

-- name: get
-- round: the round of the action told (its follow-up event was linked in it), which the
-- links and buttons of the follow-up name, even when it is sent after the case moved on.
SELECT f.case_id, f.action, f.actor, f.via, f.at, f.note, c.locale, c.status AS case_status,
       COALESCE(ce.round, c.round) AS round, c.claimed_by, c.claimed_at, c.resolved_by, c.resolved_at,
       c.note AS case_note
FROM follow_ups f JOIN cases c ON c.id = f.case_id
LEFT JOIN deliveries d ON d.id = f.delivery_id
LEFT JOIN case_events ce ON ce.event_id = d.event_id AND ce.case_id = f.case_id
WHERE f.delivery_id = :delivery_id

-- name: targets
-- The messages a channel posted for the case, oldest first, with what they were built from.
SELECT d.id, d.route, d.status, d.ref, d.priority, d.folded, d.keywords, e.body, t.ref AS thread_ref
FROM case_events ce JOIN deliveries d ON d.event_id = ce.event_id JOIN events e ON e.id = d.event_id
LEFT JOIN threads t ON t.channel = d.channel AND t.thread_key = d.thread_key
WHERE ce.case_id = :case_id AND d.channel = :channel AND d.route NOT IN ('follow-up', 'acknowledge')
ORDER BY d.created_at, d.id

-- name: posted_by
-- The channels whose message of the case is ``ref`` (a Slack ts): where a click on its buttons
-- came from. Two only if two channels' messages got the same ref, which says nothing.
SELECT DISTINCT d.channel FROM case_events ce JOIN deliveries d ON d.event_id = ce.event_id
WHERE ce.case_id = :case_id AND d.ref = :ref AND d.route NOT IN ('follow-up', 'acknowledge')

-- name: case_of_event
-- The case an event belongs to, as channels show it, with the round the event came in (linked
-- at accept): its alert's links and buttons name that round, not the case's round when the alert
-- is sent (late, after a retry or a replay) once the case was reopened.
SELECT c.id, c.status, ce.round, c.claimed_by, c.claimed_at, c.resolved_by, c.resolved_at, c.note
FROM case_events ce JOIN cases c ON c.id = ce.case_id WHERE ce.event_id = :event_id

-- name: earlier_unsent
-- An earlier follow-up of the same case on the same channel not sent yet: this one waits
-- for it, so the message ends in the latest state and the thread tells actions in order.
SELECT f.delivery_id FROM follow_ups f JOIN deliveries d ON d.id = f.delivery_id
WHERE f.case_id = :case_id AND d.channel = :channel AND d.status IN ('pending', 'claimed')
  AND (f.at < :at OR (f.at = :at AND f.delivery_id < :delivery_id))
LIMIT 1
