"""Shared fixtures: a real local collector on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from align_instrument.collector import RunningCollector, start_collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A running collector (``.url``, ``.port``, ``.store``) with its own database; stopped afterwards.

    Example:
        def test_it(collector):
            client = AlignClient(host=collector.url)
            ...
            assert collector.store.sessions()
    """
    with start_collector(host="127.0.0.1", port=0, db_path=tmp_path / "collector.db") as running:
        yield running
