"""The change feed: the public stations' creations, updates and deletions in order, a page at a time.

It reads the store's change log (``station_changes``, :meth:`stationmap.store.StationStore.changes_since`,
the same log that keeps every process's index in step).  Each log row becomes one entry: an
``upsert`` with the station's record as written (``after``), or a ``delete`` tombstone when the
station was deleted (``reason: "deleted"``) or closed (``reason: "closed"``: a closed station is
not public).  The cursor is the log's number (``rev``) of the last entry a client has applied;
``0`` starts from the beginning.  A client that applies every page, in order, to an empty copy
(upsert: put the record under its id; delete: remove the id) ends with exactly the stations
that are not closed.  Nothing written after a cursor is skipped: the store's writers commit the
log's numbers in order (:meth:`stationmap.store.StationStore._serialize_writes`), so a number
below one a reader sees is committed or was rolled back.

This module never imports Flask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stationmap.config import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT
from stationmap.errors import ValidationError
from stationmap.schema import as_utc

if TYPE_CHECKING:
    from stationmap.store import StationStore


@dataclass(frozen=True)
class FeedPage:
    """One page: ``entries`` in order, ``next`` (the cursor to ask with next), ``more``
    (whether entries after ``next`` exist already), ``revision`` (the log's latest number)."""

    entries: list[dict[str, Any]]
    next: int
    more: bool
    revision: int

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "next": self.next, "more": self.more, "revision": self.revision}


def is_public(record: dict[str, Any] | None) -> bool:
    """Whether a station's record (the log's JSON) is public: it exists and is not closed."""
    return record is not None and record.get("status") != "closed"


def entry(change: dict[str, Any]) -> dict[str, Any]:
    """The feed's entry for one change-log row (``rev``, ``station_id``, ``at``, ``after``)."""
    after = change["after"]
    record = json.loads(after) if isinstance(after, str) else after
    at = as_utc(change["at"])
    head = {"rev": int(change["rev"]), "id": change["station_id"], "at": at.isoformat() if at else None}
    if is_public(record):
        return {**head, "op": "upsert", "station": record}
    return {**head, "op": "delete", "reason": "deleted" if record is None else "closed"}


def check_cursor(since: object) -> int:
    """A cursor: an integer >= 0 (text of digits is read); ValidationError otherwise."""
    if isinstance(since, bool) or not isinstance(since, (int, str)):
        raise ValidationError(f"since must be an integer in [0, {2**62}], got {since!r}", field="since")
    try:
        n = int(since)
    except ValueError:
        raise ValidationError(f"since must be an integer in [0, {2**62}], got {since!r}", field="since") from None
    if not 0 <= n <= 2**62:
        raise ValidationError(f"since must be an integer in [0, {2**62}], got {since!r}", field="since")
    return n


def changes(store: StationStore, since: int = 0, limit: int = FEED_DEFAULT_LIMIT) -> FeedPage:
    """The entries after cursor ``since``, at most ``limit`` (1 to :data:`~stationmap.config.FEED_MAX_LIMIT`)."""
    since = check_cursor(since)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= FEED_MAX_LIMIT:
        raise ValidationError(f"limit must be an integer in [1, {FEED_MAX_LIMIT}], got {limit!r}", field="limit")
    rows = store.changes_since(since, limit=limit + 1)
    page = rows[:limit]
    last = int(page[-1]["rev"]) if page else since
    return FeedPage([entry(r) for r in page], last, len(rows) > limit, max(last, store.revision()))
