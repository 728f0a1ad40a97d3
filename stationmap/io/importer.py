"""Import a station list into a :class:`~stationmap.store.StationStore`.

file -> :func:`~stationmap.io.readers.read_table` (headers mapped to fields)
-> :func:`stationmap.model.validated_fields` for every row (every problem, with
its row number) -> duplicate ids -> datum conversion to WGS-84 (vectorised,
whole columns) -> one Station per valid row -> :meth:`StationStore.write_many`
in ONE transaction.

Rules
-----
* Any invalid row and the import writes nothing and raises
  :class:`~stationmap.errors.ImportReportError` listing every problem
  (``skip_invalid=True`` imports the valid rows and reports the rest).
* ``dry_run=True`` writes nothing and returns what would happen.
* Rows are upserted: a station whose id is already stored is updated, an
  unchanged one is left alone (no change-log row).
* A row without an id gets a stable one derived from its name and address
  (``st-`` + 12 hex digits of a SHA-1), so that importing the same list again
  updates those stations instead of adding copies.  Two such rows with the
  same name and address are reported as duplicates.
* The datum of the coordinates is, in order: ``datum=`` if given, the datum
  the file declares (GeoJSON ``"datum"`` member; a reprojected GeoPackage
  layer), else WGS-84; a ``datum`` column sets it per row (a row that
  contradicts an explicit ``datum=`` is a problem).
* A file without a kinds column imports every station as ``rest`` (工会驿站),
  with a warning.
* Every station's district (adcode) comes from its point
  (:meth:`stationmap.districts.Districts.assign_many`, one bulk lookup per
  :data:`PLACE_BATCH` rows): the most specific district holding it (苏州工业园区
  320571 inside its outline) when the row gives none; a given adcode that
  disagrees with the point is a problem naming both; a point in no known
  district (outside Jiangsu, in the sea) is a problem, unless ``district=`` is
  given: such rows get that adcode.

Test hook
---------
If the environment variable ``STATIONMAP_TEST_IMPORT_PAUSE`` holds a number of
seconds, the import prints ``stationmap test hook: N stations in the open
import transaction`` to stderr after writing its rows, then sleeps that long
*inside the open transaction*, before committing.  The tests use it to kill
an import half-way (``tests/unit/test_import_kill.py``).  Never set it
otherwise.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap.bulk import no_gc
from stationmap.coords import check_datum, to_wgs84
from stationmap.districts import check_adcode
from stationmap.errors import ImportReportError, ValidationError
from stationmap.io.readers import FileProblem, Source, Table, read_table
from stationmap.model import Station, build_station, validated_fields

if TYPE_CHECKING:
    import sqlalchemy as sa

    from stationmap.districts import Districts
    from stationmap.store import StationStore

#: longest id the store's ``id`` column holds
MAX_ID_LEN = 64
TEST_PAUSE_ENV = "STATIONMAP_TEST_IMPORT_PAUSE"
#: rows placed in their districts at a time (one bulk point-in-polygon lookup each)
PLACE_BATCH = 20_000


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    fmt: str
    datum: str
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    invalid: int = 0
    #: datums the valid rows' coordinates were given in (converted to WGS-84)
    datums: tuple[str, ...] = ()
    dry_run: bool = False
    written: bool = False
    problems: list[FileProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row was invalid."""
        return self.invalid == 0

    def summary(self) -> str:
        """One line: ``stations.csv: imported 12 rows: 10 new, 1 updated, 1 unchanged, 0 invalid``."""
        verb = "dry run, nothing written" if self.dry_run else ("imported" if self.written else "nothing written")
        parts = [f"{self.new} new", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.kept:
            parts.append(f"{self.kept} already stored (kept as they are)")
        parts.append(f"{self.invalid} invalid")
        conv = [d for d in self.datums if d != "wgs84"]
        datum = f"; coordinates converted from {' and '.join(conv)} to WGS-84" if conv else ""
        unit = "row" if self.fmt in ("csv", "xlsx") else "feature"
        return (f"{self.source}: {verb}: {self.rows} {unit}{'' if self.rows == 1 else 's'}: "
                f"{', '.join(parts)}{datum}")

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "source": self.source, "format": self.fmt, "datum": self.datum, "rows": self.rows,
            "new": self.new, "updated": self.updated, "unchanged": self.unchanged, "kept": self.kept,
            "invalid": self.invalid, "dry_run": self.dry_run, "written": self.written,
            "problems": [p.to_dict() for p in self.problems], "warnings": list(self.warnings),
        }


@dataclass
class Parsed:
    """A validated file: the good stations (WGS-84) and every problem.

    ``table`` is the file's :class:`~stationmap.io.readers.Table` with its
    ``records`` consumed (each let go once checked: a record and its station
    are not both kept for every row); its ``rows``, ``fields`` and headers stay.
    ``problems`` is empty when they went to :func:`parse_stations`' ``on_problem``;
    ``problem_count`` and ``invalid_rows`` count them either way.
    """

    table: Table
    datum: str
    stations: list[Station]
    station_rows: list[int]
    problems: list[FileProblem]
    warnings: list[str]
    datums: tuple[str, ...] = ()
    #: how many problems the file has
    problem_count: int = 0
    #: how many rows have a problem
    invalid_rows: int = 0


def _text(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def derived_id(name: str, address: str, lon: object, lat: object) -> str:
    """A stable id for a row without one: from name and address (or position)."""
    key = f"{name}\x1f{address}" if address else f"{name}\x1f{_text(lon)}\x1f{_text(lat)}"
    return "st-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def parse_stations(source: Source, *, filename: str | None = None, fmt: str | None = None,
                   datum: str | None = None, max_rows: int | None = None,
                   max_bytes: int | None = None,
                   on_problem: Callable[[FileProblem], object] | None = None,
                   districts: Districts | None = None, district: str | None = None) -> Parsed:
    """Read and validate a station file without touching any store.

    Parameters
    ----------
    source : str, Path or binary file-like
        The file (a file-like object needs ``filename`` or ``fmt``).
    filename : str, optional
        The name the file goes by (an upload's); its extension gives the format.
    fmt : {"csv", "xlsx", "geojson", "gpkg"}, optional
        The format, when neither ``source`` nor ``filename`` tells it.
    datum : {"wgs84", "gcj02", "bd09"}, optional
        Datum of the file's coordinates; by default the one the file declares,
        else WGS-84.  Stations come back in WGS-84.
    max_rows, max_bytes : int, optional
        Size limits (:func:`~stationmap.io.readers.read_table`; the web upload's).
    on_problem : callable, optional
        Called with each problem, in row order, instead of keeping it in
        ``problems``: for a caller that needs only the first ones, or writes
        them out as they come (a file may have several problems in every row).
    districts : Districts, optional
        Where points are placed (default: :func:`~stationmap.districts.load_districts`).
    district : str, optional
        The adcode of rows whose point lies in no known district (without it
        such rows are problems).

    Returns
    -------
    Parsed
        ``stations`` (valid, WGS-84, with ids) and ``problems``
        (:class:`~stationmap.io.readers.FileProblem`, ordered by row), with
        their counts; the table's records are consumed.

    Raises
    ------
    ValidationError
        The file cannot be read, has the wrong format, is empty or lacks a
        required column; or ``datum`` is unknown or contradicts the datum the
        file declares.  Invalid rows do not raise: they are in ``problems``.
    """
    table = read_table(source, filename=filename, fmt=fmt, max_rows=max_rows, max_bytes=max_bytes)
    name, unit = table.source, table.unit
    explicit = check_datum(datum) if datum is not None else None
    if explicit and table.declared_datum and explicit != table.declared_datum:
        raise ValidationError(
            f"{name}: the file declares its coordinates as {table.declared_datum} "
            f"but datum {explicit} was asked for", field="datum")
    default = explicit or table.declared_datum or "wgs84"
    warns = list(table.warnings)
    no_kinds = "kinds" not in table.fields
    if no_kinds:
        warns.append(f"{name}: warning: no kinds column (类型): every station is taken as "
                     "'rest' (工会驿站)")
    has_datum_col = "datum" in table.fields

    reader_problems: dict[int | None, list[FileProblem]] = {}
    for p in table.problems:
        reader_problems.setdefault(p.row, []).append(p)

    problems: list[FileProblem] = []
    built: list[Station] = []
    st_rows: list[int] = []
    st_datums: set[str] = set()
    seen: dict[tuple[str, str], int] = {}
    n_problems = n_invalid = 0
    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts()
    if district is not None:
        district = check_adcode(district, field="district")
    # rows checked but not yet placed in their district: (row, problems, fields or None, datum)
    pending: list[tuple[int, list[FileProblem], dict[str, Any] | None, str]] = []

    def place(batch: list[tuple[int, list[FileProblem], dict[str, Any] | None, str]]) -> None:
        """Convert the batch's valid rows to WGS-84 (per datum, vectorised), give each its
        district (:meth:`Districts.assign_many`, one bulk lookup), then report the batch's
        problems in row order and build its stations."""
        nonlocal n_invalid, n_problems
        valid = [f for _, p, f, _ in batch if not p and f is not None]
        by_datum: dict[str, list[dict[str, Any]]] = {}
        for _, probs, f, d in batch:
            if d != "wgs84" and not probs and f is not None:
                by_datum.setdefault(d, []).append(f)
        for dname, todo in by_datum.items():
            wlon, wlat = to_wgs84(np.array([f["lon"] for f in todo], dtype=float),
                                  np.array([f["lat"] for f in todo], dtype=float), dname)
            for f, x, y in zip(todo, np.round(wlon, 7).tolist(), np.round(wlat, 7).tolist()):
                f["lon"], f["lat"] = x, y
        codes, where = districts.assign_many([f["lon"] for f in valid], [f["lat"] for f in valid],
                                             [f["adcode"] for f in valid], fallback=district)
        k = 0
        for row, row_problems, fields, d in batch:
            if not row_problems and fields is not None:
                if k in where:
                    row_problems.append(FileProblem(row, "adcode", where[k], fields["adcode"], unit=unit))
                else:
                    fields["adcode"] = codes[k]
                k += 1
            if row_problems or fields is None:  # (fields is None only for a row with problems)
                n_invalid += 1
                n_problems += len(row_problems)
                if on_problem is None:
                    problems.extend(row_problems)
                else:
                    for p in row_problems:
                        on_problem(p)
                continue
            st_rows.append(row)
            st_datums.add(d)
            built.append(build_station(**fields))

    records = table.records
    records.reverse()  # taken from the end, in file order: each record goes once checked (memory)
    for row in table.rows:
        rec = records.pop()
        row_problems: list[FileProblem] = []
        rp = reader_problems.get(row, ())
        row_problems.extend(rp)
        if no_kinds:
            rec["kinds"] = "rest"
        d = default
        if has_datum_col:
            raw = rec.pop("datum", None)
            if _text(raw):
                try:
                    d = check_datum(raw, field="datum")
                except ValidationError as exc:
                    row_problems.append(FileProblem(row, "datum", exc.message, raw, unit=unit))
                else:
                    if explicit and d != explicit:
                        row_problems.append(FileProblem(
                            row, "datum", f"the datum column says {d} but datum {explicit} was asked for",
                            raw, unit=unit))
        fields, probs = validated_fields(rec, row=row, datum="wgs84")
        geometry_bad = any(p.field == "geometry" for p in rp)
        for vp in probs:
            if geometry_bad and vp.field in ("lon", "lat"):
                continue  # already said: the feature has no usable point
            row_problems.append(FileProblem(vp.row, vp.field, vp.message, vp.value, unit=unit))
        # ids: given, or derived from name + address; duplicates within the file
        sid = _text(rec.get("id"))
        key: tuple[str, str] | None
        if sid:
            if len(sid) > MAX_ID_LEN:
                row_problems.append(FileProblem(row, "id", f"id is longer than {MAX_ID_LEN} characters", sid,
                                                unit=unit))
            key = ("id", sid)
        else:
            nm = _text(rec.get("name"))
            addr = _text(rec.get("address"))
            sid = derived_id(nm, addr, rec.get("lon"), rec.get("lat")) if nm else ""
            key = ("derived", sid) if sid else None
        if key is not None:
            first = seen.setdefault(key, row)
            if first != row:
                if key[0] == "id":
                    msg = f"duplicate id {sid!r} (also in {unit} {first})"
                    fld = "id"
                else:
                    msg = (f"duplicate station: same name and address as {unit} {first} "
                           "(give each row an id if they are different stations)")
                    fld = "name"
                row_problems.append(FileProblem(row, fld, msg, sid, unit=unit))
        if not row_problems and fields is not None:
            fields["id"] = sid
            if d != "wgs84":  # converted (vectorised) when the batch is placed
                fields["lon"], fields["lat"] = (v if isinstance(v, (int, float)) else float(str(v).strip())
                                                for v in (rec["lon"], rec["lat"]))
        pending.append((row, row_problems, fields, d))
        if len(pending) >= PLACE_BATCH:
            place(pending)
            pending.clear()
    place(pending)
    return Parsed(table=table, datum=default, stations=built, station_rows=st_rows,
                  problems=problems, warnings=warns, datums=tuple(sorted(st_datums)),
                  problem_count=n_problems, invalid_rows=n_invalid)


def _test_pause(conn: sa.Connection, n_written: int) -> None:
    raw = os.environ.get(TEST_PAUSE_ENV)
    if not raw:
        return
    import sqlalchemy as sa

    from stationmap.schema import stations_table

    count = conn.execute(sa.select(sa.func.count()).select_from(stations_table)).scalar_one()
    print(f"stationmap test hook: {count} stations in the open import transaction "
          f"({n_written} written); pausing {raw} s", file=sys.stderr, flush=True)
    time.sleep(float(raw))


@no_gc()   # a file's stations: thousands of acyclic objects that outlive the parse and the write
def import_file(store: StationStore | None, source: Source, *, filename: str | None = None, fmt: str | None = None,
                datum: str | None = None, dry_run: bool = False, skip_invalid: bool = False,
                user: str = "", note: str | None = None, update_existing: bool = True,
                districts: Districts | None = None, district: str | None = None) -> ImportResult:
    """Import a station file into ``store`` in one transaction.

    Parameters
    ----------
    store : StationStore or None
        Where the stations go (its tables must exist unless ``dry_run``; with
        ``dry_run``, None or a store without tables counts every station as new).
    source : str, Path or binary file-like
        CSV, XLSX, GeoJSON or GeoPackage; a file-like object (an upload)
        needs ``filename`` (or ``fmt``).
    filename : str, optional
        The name the file goes by (an upload's); its extension gives the format.
    fmt : {"csv", "xlsx", "geojson", "gpkg"}, optional
        The format, when neither ``source`` nor ``filename`` tells it.
    datum : {"wgs84", "gcj02", "bd09"}, optional
        Datum of the file's coordinates (default: the file's own declaration,
        else WGS-84).  Stations are stored in WGS-84.
    dry_run : bool
        Validate and count, write nothing.  Never raises for invalid rows:
        check ``result.problems``.
    skip_invalid : bool
        Import the valid rows even if some are invalid (they are still
        reported in ``result.problems``).
    user, note : str
        Recorded in the change log (note defaults to ``"import <file>"``).
    update_existing : bool
        False: only stations the store has never had (no row and no change-log
        entry: a deleted station stays deleted) are added; the others are left
        as they are and counted as ``kept`` (``stationmap init`` loads the
        sample this way, so edits to sample stations survive it).
    districts, district : optional
        As for :func:`parse_stations`: where points are placed, and the adcode
        of rows whose point lies in no known district.

    Returns
    -------
    ImportResult
        The counts (new, updated, unchanged, kept, invalid), the problems and
        warnings, the ids of the valid stations, and whether anything was written.

    Raises
    ------
    ValidationError
        The file cannot be read, has the wrong format, is empty or lacks a
        required column (one message naming the file).
    ImportReportError
        Some rows are invalid (and neither ``skip_invalid`` nor ``dry_run``):
        ``problems`` lists every one; nothing was written.
    """
    parsed = parse_stations(source, filename=filename, fmt=fmt, datum=datum, districts=districts,
                            district=district)
    table = parsed.table
    res = ImportResult(source=table.source, fmt=table.fmt, datum=parsed.datum, rows=len(table.rows),
                       invalid=parsed.invalid_rows, dry_run=dry_run, problems=parsed.problems,
                       datums=parsed.datums,
                       warnings=parsed.warnings)
    if parsed.problems and not (skip_invalid or dry_run):
        n = res.invalid
        exc = ImportReportError(
            f"{table.source}: {n} of {res.rows} {table.unit}s {'is' if n == 1 else 'are'} invalid; "
            f"nothing was imported (fix {'it' if n == 1 else 'them'}, or skip invalid {table.unit}s "
            f"to import the {len(parsed.stations)} valid ones)",
            parsed.problems, source=table.source, warnings=parsed.warnings, result=res)
        raise exc
    stations = parsed.stations
    res.ids = [s.id for s in stations]
    if dry_run:
        if store is not None and store.exists():
            new, changed, same = store.classify(stations)
        else:
            new, changed, same = stations, [], []
        _count(res, new, changed, same, update_existing)
        return res
    if store is None:
        raise TypeError("import_file needs a store (only a dry run goes without one)")
    note = f"import {table.source}" if note is None else note
    with store.begin() as conn:
        if update_existing:
            stats: dict[str, int] = {}
            store.write_many(stations, user=user, note=note, mode="upsert", conn=conn, stats=stats)
            res.new, res.updated, res.unchanged = stats["insert"], stats["update"], stats["unchanged"]
            n_written = res.new + res.updated
        else:
            new, changed, same = store.classify(stations, conn=conn)
            seen_before = _ids_with_history(conn, [s.id for s in new])
            if seen_before:  # deleted (or written) once: leave it that way
                same = same + [s for s in new if s.id in seen_before]
                new = [s for s in new if s.id not in seen_before]
            _count(res, new, changed, same, update_existing)
            if new:
                store.write_many(new, user=user, note=note, mode="insert", conn=conn)
            n_written = len(new)
        _test_pause(conn, n_written)
    res.written = True
    return res


def _ids_with_history(conn: sa.Connection, ids: list[str]) -> set[str]:
    import sqlalchemy as sa

    from stationmap.schema import changes_table

    out: set[str] = set()
    for i in range(0, len(ids), 500):
        q = sa.select(changes_table.c.station_id).where(changes_table.c.station_id.in_(ids[i:i + 500])).distinct()
        out.update(r[0] for r in conn.execute(q))
    return out


def _count(res: ImportResult, new: list[Station], changed: list[Station], same: list[Station],
           update_existing: bool) -> None:
    res.new = len(new)
    if update_existing:
        res.updated, res.unchanged = len(changed), len(same)
    else:
        res.kept = len(changed) + len(same)
