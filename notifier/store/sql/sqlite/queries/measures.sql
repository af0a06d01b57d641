-- Named statements of the measures layer (notifier/store/measures.py), SQLite dialect.
-- The PostgreSQL file holds the same names; keep them in step.

-- name: record_measure
-- Once per case round and measure: an action repeated (or replayed) measures nothing new.
INSERT INTO case_measures (case_id, round, measure, site, agent, via, opened_at, at, seconds,
                           business_seconds, late)
VALUES (:case_id, :round, :measure, :site, :agent, :via, :opened_at, :at, :seconds, :business_seconds, :late)
ON CONFLICT DO NOTHING

-- name: record_feedback
-- Rated feedback events (a JSON array), each with the case of its conversation (if any) and
-- whoever answered it: who holds it now, else its last resolver (a reopened case keeps
-- resolved_by from an earlier round), else who claimed it.
INSERT INTO case_feedback (event_id, case_id, site, agent, rating, at)
SELECT json_extract(r.value, '$.event_id'), c.id, json_extract(r.value, '$.site'),
       CASE WHEN c.status = 'claimed' THEN c.claimed_by ELSE COALESCE(c.resolved_by, c.claimed_by) END,
       json_extract(r.value, '$.rating'), :now
FROM json_each(:rows) AS r LEFT JOIN cases c ON c.identity = json_extract(r.value, '$.identity')
WHERE true
ON CONFLICT DO NOTHING

-- name: answer_times
-- Per site and agent: how many claims (resolutions) in [start, end), their mean and
-- longest waits, and how many came after the expected time. The caller sums the groups.
SELECT measure, site, agent, count(*) AS n,
       avg(CASE WHEN :business THEN business_seconds ELSE seconds END) AS mean,
       max(CASE WHEN :business THEN business_seconds ELSE seconds END) AS longest,
       sum(late) AS late
FROM case_measures
WHERE at >= :start AND at < :end AND (CAST(:site AS TEXT) IS NULL OR site = :site)
GROUP BY measure, site, agent

-- name: opened_and_resolved
-- Case rounds opened in [start, end), and how many of them are resolved now.
-- A case its visitor's erasure closed is in neither: nobody answered it, nor could.
SELECT count(*) AS opened, coalesce(sum(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END), 0) AS resolved
FROM cases
WHERE round_opened_at >= :start AND round_opened_at < :end AND (CAST(:site AS TEXT) IS NULL OR site = :site)
  AND resolved_because IS NULL

-- name: overdue
-- Cases nobody has claimed whose expected answer time has passed at :at, the oldest first.
SELECT id, site, round_opened_at, expected_response_at FROM cases
WHERE status IN ('open', 'reopened') AND expected_response_at < :at
  AND (CAST(:site AS TEXT) IS NULL OR site = :site)
ORDER BY expected_response_at, id LIMIT :limit

-- name: overdue_count
SELECT count(*) AS n FROM cases
WHERE status IN ('open', 'reopened') AND expected_response_at < :at
  AND (CAST(:site AS TEXT) IS NULL OR site = :site)

-- name: ratings
-- Ratings given in [start, end), per agent (NULL: no case, or nobody answered) and rating.
SELECT agent, case_id IS NOT NULL AS linked, rating, count(*) AS n
FROM case_feedback
WHERE at >= :start AND at < :end AND (CAST(:site AS TEXT) IS NULL OR site = :site)
GROUP BY agent, case_id IS NOT NULL, rating

-- name: case_rating
SELECT avg(rating) AS mean, count(*) AS n FROM case_feedback WHERE case_id = :case_id
