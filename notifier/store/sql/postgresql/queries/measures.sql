-- Named statements of the measures layer (notifier/store/measures.py), PostgreSQL dialect.
-- The SQLite file holds the same names; keep them in step.

-- name: record_measure
INSERT INTO case_measures (case_id, round, measure, site, agent, via, opened_at, at, seconds,
                           business_seconds, late)
VALUES (%(case_id)s, %(round)s, %(measure)s, %(site)s, %(agent)s, %(via)s, %(opened_at)s, %(at)s, %(seconds)s,
        %(business_seconds)s, %(late)s)
ON CONFLICT DO NOTHING

-- name: record_feedback
INSERT INTO case_feedback (event_id, case_id, site, agent, rating, at)
SELECT r.event_id, c.id, r.site, CASE WHEN c.status = 'claimed' THEN c.claimed_by
            ELSE COALESCE(c.resolved_by, c.claimed_by) END, r.rating, %(now)s
FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(event_id text, identity text, site text, rating integer)
LEFT JOIN cases c ON c.identity = r.identity
ON CONFLICT DO NOTHING

-- name: answer_times
SELECT measure, site, agent, count(*) AS n,
       avg(CASE WHEN %(business)s THEN business_seconds ELSE seconds END) AS mean,
       max(CASE WHEN %(business)s THEN business_seconds ELSE seconds END) AS longest,
       sum(late) AS late
FROM case_measures
WHERE at >= %(start)s AND at < %(end)s AND (CAST(%(site)s AS TEXT) IS NULL OR site = %(site)s)
GROUP BY measure, site, agent

-- name: opened_and_resolved
-- Case rounds opened in [start, end), and how many of them are resolved now.
-- A case its visitor's erasure closed is in neither: nobody answered it, nor could.
SELECT count(*) AS opened, coalesce(sum(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END), 0) AS resolved
FROM cases
WHERE round_opened_at >= %(start)s AND round_opened_at < %(end)s
  AND (CAST(%(site)s AS TEXT) IS NULL OR site = %(site)s)
  AND resolved_because IS NULL

-- name: overdue
SELECT id, site, round_opened_at, expected_response_at FROM cases
WHERE status IN ('open', 'reopened') AND expected_response_at < %(at)s
  AND (CAST(%(site)s AS TEXT) IS NULL OR site = %(site)s)
ORDER BY expected_response_at, id LIMIT %(limit)s

-- name: overdue_count
SELECT count(*) AS n FROM cases
WHERE status IN ('open', 'reopened') AND expected_response_at < %(at)s
  AND (CAST(%(site)s AS TEXT) IS NULL OR site = %(site)s)

-- name: ratings
SELECT agent, case_id IS NOT NULL AS linked, rating, count(*) AS n
FROM case_feedback
WHERE at >= %(start)s AND at < %(end)s AND (CAST(%(site)s AS TEXT) IS NULL OR site = %(site)s)
GROUP BY agent, case_id IS NOT NULL, rating

-- name: case_rating
SELECT avg(rating) AS mean, count(*) AS n FROM case_feedback WHERE case_id = %(case_id)s
