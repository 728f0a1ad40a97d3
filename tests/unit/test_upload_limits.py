"""Size limits of a read (the web upload's, issue 22): rows and unpacked bytes, refused early."""

from __future__ import annotations

import io
import time

import pytest

from stationmap.errors import TooLargeError, ValidationError
from stationmap.io.importer import parse_stations
from stationmap.io.readers import read_table
from tests.support.bombs import xlsx_bomb


def test_an_xlsx_bomb_is_refused_at_once_by_its_unpacked_size():
    bomb = xlsx_bomb(3_000_000)  # ~1.5 MB that unpacks to ~400 MB
    assert len(bomb) < 3_000_000
    t = time.perf_counter()
    with pytest.raises(TooLargeError) as err:
        read_table(io.BytesIO(bomb), filename="bomb.xlsx", max_rows=200_000, max_bytes=100_000_000)
    assert time.perf_counter() - t < 2.0
    assert err.value.unit == "bytes" and err.value.limit == 100_000_000 and err.value.http_status == 413
    assert "bomb.xlsx" in err.value.message and "stationmap import" in err.value.message


def test_too_many_rows_are_refused_before_they_are_parsed():
    book = xlsx_bomb(250_000)  # ~30 MB unpacked: under the byte limit, over the row limit
    t = time.perf_counter()
    with pytest.raises(TooLargeError) as err:
        read_table(io.BytesIO(book), filename="big.xlsx", max_rows=200_000, max_bytes=100_000_000)
    assert time.perf_counter() - t < 2.0  # openpyxl alone would take many seconds to reach row 200,000
    assert err.value.unit == "rows" and "200,000 rows" in err.value.message


@pytest.mark.parametrize("rows, limit, refused", [(30, 30, False), (31, 30, True), (35, 30, True), (300, 30, True)])
def test_the_row_limit_is_exact_for_xlsx(rows, limit, refused):
    book = io.BytesIO(xlsx_bomb(rows))
    if refused:
        with pytest.raises(TooLargeError):
            read_table(book, filename="s.xlsx", max_rows=limit)
    else:
        assert len(read_table(book, filename="s.xlsx", max_rows=limit).records) == rows


def test_csv_rows_and_bytes_limits(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("name,lon,lat,kinds\n" + "x,119.95,31.78,rest\n" * 40, encoding="utf-8")
    assert len(read_table(path, max_rows=40).records) == 40
    with pytest.raises(TooLargeError) as err:
        read_table(path, max_rows=39)
    assert err.value.unit == "rows"
    with pytest.raises(TooLargeError) as err:
        read_table(path, max_bytes=100)
    assert err.value.unit == "bytes"
    with pytest.raises(TooLargeError):  # an upload is a file-like object
        parse_stations(io.BytesIO(path.read_bytes()), filename="s.csv", max_bytes=100)


def test_without_limits_nothing_changes_and_bad_zips_stay_plain_errors():
    assert len(read_table(io.BytesIO(xlsx_bomb(50)), filename="s.xlsx").records) == 50
    with pytest.raises(ValidationError) as err:
        read_table(io.BytesIO(b"PK\x03\x04 not really a zip"), filename="b.xlsx", max_rows=10, max_bytes=10**6)
    assert not isinstance(err.value, TooLargeError) and "b.xlsx" in err.value.message


def test_the_row_count_is_exact_across_read_chunks():
    """Tags cut by a 1 MiB chunk's end are counted once: the count equals the sheet's rows."""
    import zipfile

    from stationmap.io.readers import _count_rows

    with zipfile.ZipFile(io.BytesIO(xlsx_bomb(100_003))) as zf:
        sheet = zf.getinfo("xl/worksheets/sheet1.xml")
        assert sheet.file_size > 8 * (1 << 20)  # several chunks
        assert _count_rows(zf, sheet) == 100_004  # the header row and the data rows
