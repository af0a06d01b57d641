"""Ids of deliveries and cases, made a batch at a time: the same shape as ``uuid4().hex``."""

from __future__ import annotations

import uuid

from notifier.core.events import new_ids


def test_batch_ids_are_distinct_version_4_uuids() -> None:
    ids = new_ids(2_000)
    assert len(ids) == 2_000 and len(set(ids)) == 2_000
    for one in ids:
        parsed = uuid.UUID(hex=one)
        # What uuid4().hex gives: 32 lower-case hex digits, version 4, RFC 4122 variant.
        assert parsed.hex == one and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_no_ids_asked_none_given() -> None:
    assert new_ids(0) == []
