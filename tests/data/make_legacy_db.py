"""Writes tests/data/legacy_v0.sqlite: a database as the release before migrations made it.

The file is committed; tests/unit/test_migrations.py upgrades copies of it.
It was made with the code of main at commit 5bf4dda (before Alembic), whose
``StationStore.create_all`` made the schema, from that checkout:

    cd /work/main && .venv/bin/python /path/to/tests/data/make_legacy_db.py /path/to/tests/data/legacy_v0.sqlite

Only public calls of that release are used (StationStore, accounts.add_user,
reports.add_report / verify_station).  Contents: four stations (one deleted
later, one edited, one with Chinese text and a verified date), one editor,
reports (one resolved by the verification), so every table has rows.  The
expected values live in the test, written out by hand.
"""

import sqlite3
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from stationmap import accounts, reports
from stationmap.model import Station
from stationmap.store import StationStore

HERE = Path(__file__).resolve().parent


def main(out: Path) -> None:
    if out.exists():
        out.unlink()
    store = StationStore(f"sqlite:///{out}")
    store.create_all()
    store.write_many([
        Station(id="cz-001", name="钟楼区邮政驿站", name_en="Zhonglou post office station", lon=119.9501,
                lat=31.7802, kinds=("rest",), services=("drinking_water", "toilet", "phone_charging"),
                address="常州市钟楼区南大街1号", adcode="320404", host="中国邮政钟楼支局", operator="钟楼区总工会",
                phone="0519-88880001", opening_hours="Mo-Fr 08:30-17:30", source="legacy fixture"),
        Station(id="cz-002", name="天宁区热茶点", lon=119.9702, lat=31.7755, kinds=("hot_tea", "rest"),
                services=("hot_water",), adcode="320402", status="temporarily_closed",
                verified_at=date(2024, 3, 2), source="legacy fixture"),
        Station(id="cz-003", name="新北区法律援助点", lon=119.9740, lat=31.8102, kinds=("legal_aid",),
                adcode="320411", source="legacy fixture"),
        Station(id="cz-004", name="将被删除的驿站", lon=119.9400, lat=31.7600, kinds=("rest",),
                adcode="320404", source="legacy fixture"),
    ], user="alice", note="first list")
    store.update(Station(id="cz-003", name="新北区法律援助点（改）", lon=119.9741, lat=31.8103,
                         kinds=("legal_aid",), services=("legal_aid",), adcode="320411", phone="0519-85550000",
                         source="legacy fixture"), user="bob", note="moved next door")
    store.delete("cz-004", user="alice", note="closed for good")
    accounts.add_user(store, "zhonglou.editor", "correct horse battery", role="editor", scopes=("320404",))
    reports.add_report(store, "cz-001", "no_hot_water", at=datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc))
    reports.add_report(store, "cz-001", "ok", at=datetime(2024, 6, 2, 9, 30, tzinfo=timezone.utc))
    reports.add_report(store, "cz-002", "closed", at=datetime(2024, 6, 3, 10, 0, tzinfo=timezone.utc))
    reports.verify_station(store, "cz-001", user="zhonglou.editor",
                           now=datetime(2024, 6, 4, 2, 0, tzinfo=timezone.utc))
    store.engine.dispose()
    conn = sqlite3.connect(out)  # one self-contained file: no -wal beside it
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("VACUUM")
    conn.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "legacy_v0.sqlite")
