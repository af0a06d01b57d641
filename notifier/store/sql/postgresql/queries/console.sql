-- The console's reading queries (notifier/console/queries.py).

-- name: queue
-- A page of cases, newest round first, with how many escalation steps fired in this round.
-- The inner query sorts ids only and pages first; the rows and levels are read for the page.
-- %(statuses)s and %(sites)s are JSON arrays, or NULL for any.
SELECT c.*, (SELECT count(*) FROM case_timers t
             WHERE t.case_id = c.id AND t.round = c.round AND t.status = 'fired') AS level
FROM (SELECT id, round_opened_at FROM cases
      WHERE (CAST(%(statuses)s AS jsonb) IS NULL
             OR status IN (SELECT jsonb_array_elements_text(CAST(%(statuses)s AS jsonb))))
        AND (CAST(%(sites)s AS jsonb) IS NULL
             OR site IN (SELECT jsonb_array_elements_text(CAST(%(sites)s AS jsonb))))
      ORDER BY round_opened_at DESC, id DESC
      LIMIT %(limit)s OFFSET %(offset)s) p
JOIN cases c ON c.id = p.id
ORDER BY p.round_opened_at DESC, p.id DESC

-- name: queue_count
SELECT count(*) AS n FROM cases c
WHERE (CAST(%(statuses)s AS jsonb) IS NULL
       OR c.status IN (SELECT jsonb_array_elements_text(CAST(%(statuses)s AS jsonb))))
  AND (CAST(%(sites)s AS jsonb) IS NULL
       OR c.site IN (SELECT jsonb_array_elements_text(CAST(%(sites)s AS jsonb))))

-- name: queue_version
-- Changes whenever a case is opened or changes: what the live queue polls.
SELECT count(*) AS n, max(updated_at) AS at FROM cases

-- name: deliveries
-- Deliveries, newest first, by status, channel, route and creation time; with the event's site.
SELECT d.id, d.event_id, d.route, d.channel, d.status, d.attempts, d.created_at, d.sent_at, d.last_error,
       d.next_attempt_at, d.ref, e.site
FROM deliveries d JOIN events e ON e.id = d.event_id
WHERE (CAST(%(status)s AS text) IS NULL OR d.status = %(status)s)
  AND (CAST(%(channel)s AS text) IS NULL OR d.channel = %(channel)s)
  AND (CAST(%(route)s AS text) IS NULL OR d.route = %(route)s)
  AND (CAST(%(since)s AS timestamptz) IS NULL OR d.created_at >= %(since)s)
  AND (CAST(%(until)s AS timestamptz) IS NULL OR d.created_at < %(until)s)
  AND (CAST(%(sites)s AS jsonb) IS NULL
       OR e.site IN (SELECT jsonb_array_elements_text(CAST(%(sites)s AS jsonb))))
ORDER BY d.created_at DESC, d.id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: channel_health
-- Per channel: the last send that succeeded, the last failure and its reason, what is under way.
SELECT d.channel,
       max(d.sent_at) AS last_success,
       max(CASE WHEN d.last_error IS NOT NULL THEN d.updated_at END) AS last_error_at,
       sum(CASE WHEN d.status = 'claimed' THEN 1 ELSE 0 END) AS in_flight,
       sum(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END) AS pending,
       sum(CASE WHEN d.status = 'dead' THEN 1 ELSE 0 END) AS dead
FROM deliveries d GROUP BY d.channel

-- name: last_error
SELECT last_error FROM deliveries WHERE channel = %(channel)s AND last_error IS NOT NULL
ORDER BY updated_at DESC LIMIT 1

-- name: attempts_since
-- Attempts since a time, for the health charts: when, outcome, how long.
SELECT a.at, a.outcome, a.duration_ms FROM attempts a WHERE a.at >= %(since)s ORDER BY a.at
