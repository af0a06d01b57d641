-- What an erasure did, marked where no visitor can write it (an event's body and labels are
-- theirs): when each event was anonymised, and which cases the erasure closed ('erased':
-- nobody is left to answer, and nobody answered, so no response time counts it).
ALTER TABLE events ADD COLUMN erased_at REAL;
ALTER TABLE cases ADD COLUMN resolved_because TEXT;

-- Events anonymised before this column: what an erasure leaves (labels {"erased": "true"}, none
-- of what a person writes or is). An event a visitor sent that way held nothing to send either.
UPDATE events SET erased_at = received_at
WHERE json_extract(body, '$.labels') = '{"erased":"true"}'
  AND json_type(body, '$.message') IS NULL AND json_type(body, '$.user') IS NULL
  AND json_type(body, '$.transcript') IS NULL AND json_type(body, '$.tool') IS NULL
  AND json_type(body, '$.page') IS NULL;

-- Cases erased before, left waiting for an answer nobody can give: closed now, as an erasure
-- does from now on.
UPDATE cases SET status = 'resolved', resolved_because = 'erased', resolved_at = updated_at
WHERE status <> 'resolved' AND identity = 'erased:' || id;
