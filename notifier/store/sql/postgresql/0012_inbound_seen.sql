-- What inbound helpdesk webhooks already told (notifier/store/inbound_seen.py), shared by every
-- process on the database and kept across restarts: a Zendesk signature acted upon (refused
-- if it comes again while its timestamp is still accepted), a Freshdesk ticket reported
-- resolved (a second "resolved" without a report of the ticket reopened in between changes
-- nothing). Each row is needed until expires_at; claims forget those past it.
CREATE TABLE inbound_seen (
    key        TEXT PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX inbound_seen_expires_at ON inbound_seen (expires_at);
