"""Prometheus metrics, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["REGISTRY", "accepted", "attempts", "channel_consecutive_failures", "channel_failing_seconds",
           "config_reloads", "connections_dropped", "deliveries_by_status",
           "delivery_seconds", "purged", "repeated_failures"]

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
