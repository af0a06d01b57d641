-- Named statements of inbound helpdesk webhooks (notifier/helpdesk_inbound.py), PostgreSQL dialect.
-- The SQLite file holds the same names; keep them in step.

-- name: case_of_ticket
-- The case whose alert became this ticket on this channel: the ticket id is the delivery's ref
-- (the ticket's creation and every note added to it after).
SELECT ce.case_id FROM deliveries d JOIN case_events ce ON ce.event_id = d.event_id
WHERE d.channel = %(channel)s AND d.ref = %(ref)s AND d.status = 'sent'
ORDER BY d.sent_at DESC LIMIT 1
