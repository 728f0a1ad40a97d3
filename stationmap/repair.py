"""Repair stored stations that have no district code (adcode).

Stations written before every write path placed its points (issue 20: an
import without an adcode column stored them with an empty adcode) belong to
no district: no editor can edit them and no embed or published site shows
them.  :func:`repair_districts` gives each the district its point lies in, by
the rule of every write path
(:meth:`stationmap.districts.Districts.assign_many`), and writes them through
the store, so that the change log (each station's history) shows the repair.
Stations whose point lies in no known district are left as they are and
listed.  ``stationmap repair-districts`` runs it; ``stationmap init`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from stationmap.config import Settings
    from stationmap.districts import Districts
    from stationmap.model import Station
    from stationmap.store import StationStore

#: the change-log note of a repair
REPAIR_NOTE = "repair: district from the station's point"


@dataclass
class Repair:
    """What :func:`repair_districts` did: ``{id: adcode}`` it set, and the stations it could not place."""

    set: dict[str, str] = field(default_factory=dict)
    unplaced: list[Station] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many it set and how many it could not."""
        line = f"districts repaired: {len(self.set)} station{'' if len(self.set) == 1 else 's'} given their adcode"
        if self.unplaced:
            line += (f"; {len(self.unplaced)} could not be placed (their point lies in no known district; "
                     "edit them, or import them again with --district)")
        return line


def repair_districts(store: StationStore, districts: Districts | None = None, *, user: str = "",
                     dry_run: bool = False, settings: Settings | None = None) -> Repair:
    """Give every stored station without an adcode the district its point lies in.

    One transaction through :meth:`StationStore.write_many` (one change-log
    row per station, note :data:`REPAIR_NOTE`); with ``dry_run`` nothing is
    written.  Returns a :class:`Repair`.  ``districts`` defaults to those of
    ``settings`` (:func:`~stationmap.districts.load_districts`), loaded only
    when some station lacks an adcode.
    """
    out = Repair()
    with store.begin() as conn:  # read and write in one transaction: no edit in between is overwritten
        _repair(store, districts, conn, out, user=user, dry_run=dry_run, settings=settings)
    return out


def _repair(store: StationStore, districts: Districts | None, conn: sa.Connection, out: Repair, *, user: str,
            dry_run: bool, settings: Settings | None) -> None:
    todo = store.without_adcode(conn=conn)
    if not todo:
        return
    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts(settings)
    codes, problems = districts.assign_many([s.lon for s in todo], [s.lat for s in todo], [""] * len(todo))
    fixed = []
    for i, (s, code) in enumerate(zip(todo, codes)):
        if i in problems:
            out.unplaced.append(s)
        else:
            fixed.append(replace(s, adcode=code))
            out.set[s.id] = code
    if fixed and not dry_run:
        store.write_many(fixed, user=user, note=REPAIR_NOTE, mode="update", conn=conn)
