-- A conversation's events by its id: what an access or erasure request for a conversation
-- (or a person's own conversations) reads inside the erasure's transaction. SQLite only:
-- there that transaction holds the one write lock, which a scan of every event would keep
-- for seconds on a big database; PostgreSQL's writers do not wait for it, so its events
-- table keeps one index less to maintain on every accept.
CREATE INDEX events_conversation ON events (conversation_id, site)
