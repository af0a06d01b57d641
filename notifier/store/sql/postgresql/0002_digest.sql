-- The digest counts a day of events in the database: one index holds every column its
-- queries read, so they scan the period's slice of the index and never the event bodies.
CREATE INDEX events_digest ON events (occurred_at, kind, role, site, conversation_id, question_key);
-- Keyword alerts of a period: the few deliveries that carry keywords, by creation time.
CREATE INDEX deliveries_keywords ON deliveries (created_at, event_id) WHERE keywords IS NOT NULL;
-- Dead letters of a period.
CREATE INDEX deliveries_dead ON deliveries (updated_at) WHERE status = 'dead';
