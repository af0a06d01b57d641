-- Nothing on PostgreSQL: the conversation index of sqlite/0009_conversation_index.sql keeps an
-- erasure's transaction from holding SQLite's one write lock; PostgreSQL's writers do not wait
-- for that transaction, so its events table keeps one index less to maintain on every accept.
-- The version exists on both backends so their migration numbers stay aligned.
SELECT 1
