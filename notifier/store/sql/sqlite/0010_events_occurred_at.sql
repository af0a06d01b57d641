-- events_digest (occurred_at, kind, role, site, conversation_id, question_key) starts with
-- occurred_at: every search of a time range uses it, and covers more. The index of occurred_at
-- alone only made every accepted event one more index entry to write, with the lock held.
DROP INDEX IF EXISTS events_occurred_at
