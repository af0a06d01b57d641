-- A conversation's events by its id: what an access or erasure request for a conversation
-- (or a person's own conversations) reads, inside the erasure's transaction, without a
-- scan of every event.
CREATE INDEX events_conversation ON events (conversation_id, site)
