"""The local collector: an Align-compatible ingestion server with SQLite storage and web pages.

Run it with ``align-instrument serve``, or in-process (tests, the demo)::

    from align_instrument.collector import start_collector

    with start_collector(db_path="align.db") as collector:
        client = AlignClient(host=collector.url)
        ...
        collector.store.sessions()
"""

from .server import DEFAULT_MAX_BODY_BYTES, CollectorServer, RunningCollector, start_collector
from .store import Feedback, IngestResult, Message, SessionDetail, SessionSummary, Store, User

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "CollectorServer",
    "Feedback",
    "IngestResult",
    "Message",
    "RunningCollector",
    "SessionDetail",
    "SessionSummary",
    "Store",
    "User",
    "start_collector",
]
