-- Named statements of the retention layer (notifier/store/retention.py), SQLite dialect.
-- The PostgreSQL file holds the same names; keep them in step. Lists of ids travel as
-- one JSON array (:ids). Times are epoch seconds.

-- name: claim_day
-- One row per day: the first process to insert it purges. A claim left running by a
-- process that died (or a failed run) is taken over once it is older than :stale.
INSERT INTO purge_runs (day, status, claimed_by, claimed_at) VALUES (:day, 'running', :worker, :now)
ON CONFLICT (day) DO UPDATE SET status = 'running', claimed_by = excluded.claimed_by,
    claimed_at = excluded.claimed_at, finished_at = NULL
WHERE purge_runs.status IN ('running', 'failed') AND purge_runs.claimed_at < :stale
RETURNING day

-- name: finish_day
UPDATE purge_runs SET status = :status, finished_at = :now, removed = :removed
WHERE day = :day AND claimed_by = :worker

-- name: finished_between
SELECT day, removed FROM purge_runs
WHERE status = 'done' AND finished_at >= :start AND finished_at < :end ORDER BY day

-- name: last_run
SELECT day, status, claimed_by, claimed_at, finished_at, removed FROM purge_runs ORDER BY day DESC LIMIT 1

-- name: old_deliveries
-- Finished deliveries past their age; a pending or claimed one is never removed.
SELECT id FROM deliveries WHERE status IN ('sent', 'dead', 'suppressed') AND created_at < :before LIMIT :n

-- name: old_events
-- Events past their age none of whose deliveries is still pending or being sent.
SELECT e.id FROM events e INDEXED BY events_received_at
WHERE e.received_at < :before
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'claimed'))
LIMIT :n

-- name: deliveries_of_events
-- Inside the write transaction: nothing changes them between this and the deletes.
SELECT id, event_id, status FROM deliveries WHERE event_id IN (SELECT value FROM json_each(:ids))

-- name: old_cases
SELECT id FROM cases WHERE updated_at < :before LIMIT :n

-- name: delete_attempts
DELETE FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(:ids))

-- name: delete_dedup_of_deliveries
-- The dedup keys these deliveries opened, once their window is over.
DELETE FROM dedup WHERE first_delivery_id IN (SELECT value FROM json_each(:ids)) AND window_until < :now

-- name: delete_follow_ups
-- What a follow-up delivery told (an action on a case): goes with the delivery.
DELETE FROM follow_ups WHERE delivery_id IN (SELECT value FROM json_each(:ids))

-- name: delete_deliveries
-- (+status: looked up by id, never through the status index, which holds most deliveries)
DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(:ids))
  AND +status IN ('sent', 'dead', 'suppressed')

-- name: delete_case_links_of_events
DELETE FROM case_events WHERE event_id IN (SELECT value FROM json_each(:ids))

-- name: delete_events
DELETE FROM events WHERE id IN (SELECT value FROM json_each(:ids))

-- name: delete_case_timers
DELETE FROM case_timers WHERE case_id IN (SELECT value FROM json_each(:ids))

-- name: delete_case_actions
DELETE FROM case_actions WHERE case_id IN (SELECT value FROM json_each(:ids))

-- name: delete_case_links
DELETE FROM case_events WHERE case_id IN (SELECT value FROM json_each(:ids))

-- name: delete_case_follow_ups
DELETE FROM follow_ups WHERE case_id IN (SELECT value FROM json_each(:ids))

-- name: delete_case_measures
-- The answer times of a case go with it (notifier/store/measures.py).
DELETE FROM case_measures WHERE case_id IN (SELECT value FROM json_each(:ids))

-- name: delete_case_feedback
DELETE FROM case_feedback WHERE case_id IN (SELECT value FROM json_each(:ids))

-- name: delete_feedback_of_events
-- A rating goes with its feedback event, whether or not it joined a case.
DELETE FROM case_feedback WHERE event_id IN (SELECT value FROM json_each(:ids))

-- name: delete_cases
DELETE FROM cases WHERE id IN (SELECT value FROM json_each(:ids))

-- name: sweep_dedup
-- Dedup keys whose window ended before the cutoff: nothing is folded into them any more.
DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE window_until < :before LIMIT :n)

-- name: sweep_threads
-- Where a conversation's follow-ups were threaded (the key names the person): kept as
-- long as deliveries are.
DELETE FROM threads WHERE (channel, thread_key) IN
    (SELECT channel, thread_key FROM threads WHERE created_at < :before LIMIT :n)

-- name: count_events
SELECT count(*) AS n,
       coalesce(sum(EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                                AND d.status IN ('pending', 'claimed'))), 0) AS held
FROM events e WHERE e.received_at < :before

-- name: count_deliveries
SELECT count(*) AS n FROM deliveries d
WHERE d.status IN ('sent', 'dead', 'suppressed')
  AND (d.created_at < :deliveries_before OR d.event_id IN (
      SELECT e.id FROM events e WHERE e.received_at < :events_before
        AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.event_id = e.id AND p.status IN ('pending', 'claimed'))))

-- name: count_cases
SELECT count(*) AS n FROM cases WHERE updated_at < :before

-- name: count_dedup
SELECT count(*) AS n FROM dedup WHERE window_until < :before

-- name: count_threads
SELECT count(*) AS n FROM threads WHERE created_at < :before

-- name: count_held
SELECT count(*) AS n FROM events e WHERE e.received_at < :before
  AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'claimed'))
