-- Why an escalation step was cancelled: 'claim' or 'resolve' (someone took the case), or
-- 'erased' (its visitor's data was erased: nothing is left to send, and nobody is paged with
-- an empty message). Steps cancelled before this column say nothing.
ALTER TABLE case_timers ADD COLUMN cancelled_because TEXT;

-- Steps still pending on cases erased before (an erasure left them to fire with nothing to
-- say): cancelled now, as an erasure does from now on.
UPDATE case_timers SET status = 'cancelled', cancelled_because = 'erased'
WHERE status = 'pending' AND case_id IN (SELECT id FROM cases WHERE identity = 'erased:' || id);
