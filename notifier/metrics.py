"""Prometheus metrics, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "MAX_SITES",
    "REGISTRY",
    "accepted",
    "attempts",
    "case_time_to_claim",
    "case_time_to_resolve",
    "channel_concurrency_limit",
    "channel_consecutive_failures",
    "channel_failing_seconds",
    "config_reloads",
    "connections_dropped",
    "deliveries_by_status",
    "delivery_seconds",
    "feedback_ratings",
    "purged",
    "repeated_failures",
    "site_label",
]

REGISTRY = CollectorRegistry(auto_describe=True)

accepted = Counter("notifier_events_accepted_total", "Events accepted, by kind and whether repeated.",
                   ["kind", "duplicate"], registry=REGISTRY)
attempts = Counter("notifier_delivery_attempts_total",
                   "Delivery attempts by channel and outcome (sent, retry, permanent, dead).",
                   ["channel", "outcome", "reason"], registry=REGISTRY)
delivery_seconds = Histogram("notifier_send_seconds", "Time a channel took to answer a send.",
                             ["channel"], registry=REGISTRY,
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
deliveries_by_status = Gauge("notifier_deliveries", "Deliveries in the store by status.", ["status"],
                             registry=REGISTRY)
connections_dropped = Counter("notifier_http_connections_dropped_total",
                              "HTTP connections the server closed: a request head or body too slow "
                              "(header_timeout, body_timeout) or room made under the connection cap (cap).",
                              ["reason"], registry=REGISTRY)
config_reloads = Counter("notifier_config_reloads_total",
                         "Configuration reloads (SIGHUP), by result (applied, refused).",
                         ["result"], registry=REGISTRY)
channel_consecutive_failures = Gauge("notifier_channel_consecutive_failures",
                                     "Failed sends in a row per channel since its last success (0: healthy).",
                                     ["channel"], registry=REGISTRY)
channel_failing_seconds = Gauge("notifier_channel_failing_seconds",
                                "Seconds since a channel's failing run began (0: its last send succeeded).",
                                ["channel"], registry=REGISTRY)
repeated_failures = Counter("notifier_failure_warnings_total",
                            "Warnings about failures: a delivery failed several times in a row (repeated), "
                            "a channel failing for 5 minutes (failing).", ["channel", "kind"], registry=REGISTRY)
purged = Counter("notifier_purged_total", "Rows removed by the retention purge (defaults.retention), by table.",
                 ["table"], registry=REGISTRY)

#: Waits of support cases, in seconds of the clock the response target counts (business hours
#: by default): up to a minute, ... a working week.
_WAITS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 432000)
case_time_to_claim = Histogram("notifier_case_time_to_claim_seconds",
                               "How long a case waited to be claimed (business hours when the response target "
                               "counts them), by site.", ["site"], registry=REGISTRY, buckets=_WAITS)
case_time_to_resolve = Histogram("notifier_case_time_to_resolve_seconds",
                                 "How long a case waited to be resolved (business hours when the response target "
                                 "counts them), by site.", ["site"], registry=REGISTRY, buckets=_WAITS)
feedback_ratings = Counter("notifier_feedback_ratings_total", "Ratings users gave in feedback events, by site and "
                           "rating (1-5).", ["site", "rating"], registry=REGISTRY)

#: Distinct sites a process labels by name; later ones share the label "other". A site is
#: whatever an event says, so without a bound a client could create series without end.
#: Agents are no label at all (people, as many as the team, named freely by each action):
#: per-agent figures come from the store (digest, GET /v1/cases).
MAX_SITES = 50
_sites: set[str] = set()


def site_label(site: str) -> str:
    """``site`` as a label value: itself for the first :data:`MAX_SITES` sites seen, then ``other``."""
    if site in _sites:
        return site
    if len(_sites) < MAX_SITES:
        _sites.add(site)
        return site
    return "other"
channel_concurrency_limit = Gauge("notifier_channel_concurrency_limit",
                                  "Sends a channel may have in flight now: adapts between its min_concurrency "
                                  "and max_concurrency to how the receiver answers.", ["channel"], registry=REGISTRY)
