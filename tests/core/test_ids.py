"""Ids of deliveries and cases, made a batch at a time: version-7 UUIDs, time first."""

from __future__ import annotations

import time
import uuid

from notifier.core.events import new_id, new_ids


def test_batch_ids_are_distinct_version_7_uuids() -> None:
    ids = new_ids(2_000)
    assert len(ids) == 2_000 and len(set(ids)) == 2_000
    for one in ids:
        parsed = uuid.UUID(hex=one)
        # 32 lower-case hex digits, version 7, RFC 4122/9562 variant.
        assert parsed.hex == one and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_start_with_the_time_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    first = new_ids(3)
    time.sleep(0.002)  # a later millisecond, so the next ids sort after these
    later = new_id()
    after = time.time_ns() // 1_000_000
    assert all(before <= int(one[:12], 16) <= after for one in [*first, later])
    assert max(first) < later  # new rows land at the end of the tables' indexes


def test_ids_end_random_so_workers_share_deliveries() -> None:
    # The last two digits choose a delivery's worker (notifier/store/partition.py).
    assert len({one[-2:] for one in new_ids(2_000)}) > 200


def test_no_ids_asked_none_given() -> None:
    assert new_ids(0) == []
