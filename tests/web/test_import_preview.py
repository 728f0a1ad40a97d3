"""The import preview of a large upload (issue 22): whole counts, the first rows of each outcome,
and the full problem list as a CSV download for the uploading user only."""

from __future__ import annotations

import csv
import io
import re

import pytest

from stationmap.config import PREVIEW_MAX_ROWS
from stationmap.io.cells import restore_cell
from stationmap.io.importer import parse_stations
from stationmap.io.writers import PROBLEM_COLUMNS
from tests.support.webforms import add_users, fresh_token, sign_in, use_fast_hasher

HEADER = ["id", "name", "kinds", "lon", "lat", "adcode", "phone"]
#: rows per outcome in the big upload: each more than the preview lists (200)
COUNTS = {"unchanged": PREVIEW_MAX_ROWS + 50, "changed": PREVIEW_MAX_ROWS + 30, "new": PREVIEW_MAX_ROWS + 10,
          "problem": PREVIEW_MAX_ROWS + 20}


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


#: a point of each district the rows use (the adcode must agree with the point)
WEST = {"320404": 119.93, "320402": 119.96}  # 钟楼区, 天宁区 at lat 31.78


def _row(i: int, *, name_suffix: str = "", phone: str = "0519-88888888", adcode: str = "320404") -> list:
    return [f"p-{i:04d}", f"预览驿站{i}{name_suffix}", "rest", f"{WEST[adcode] + i * 1e-5:.5f}", "31.78", adcode,
            phone]


def _csv(rows) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(rows)
    return out.getvalue()


def _big_upload() -> tuple[list, str, dict]:
    """(the stored stations, the upload's text, {outcome: its spreadsheet rows in order}).

    The outcomes take turns row by row until each has its count, so that the
    first rows of an outcome are not the first rows of the file.
    """
    left = dict(COUNTS)
    stored, rows, where = [], [], {k: [] for k in COUNTS}
    i = 0
    while any(left.values()):
        for outcome in COUNTS:
            if not left[outcome]:
                continue
            left[outcome] -= 1
            i += 1
            if outcome in ("unchanged", "changed"):
                stored.append(_row(i))
            rows.append(_row(i, name_suffix="（改）" if outcome == "changed" else "",
                              phone=f"=1+{i}" if outcome == "problem" else "0519-88888888"))
            where[outcome].append(len(rows) + 1)  # the header is row 1
    return stored, _csv(rows), where


def _stations(rows) -> list:
    return parse_stations(io.BytesIO(_csv(rows).encode()), filename="s.csv").stations


@pytest.fixture
def big(make_web_app):
    stored, text, where = _big_upload()
    app = make_web_app(_stations(stored))
    add_users(app.extensions["stationmap"].store)
    return app, text, where


def _client(app, user=None):
    c = app.test_client()
    if user:
        assert sign_in(c, user).status_code == 302
    return c


def _upload(c, text, name="big.csv", lang="zh"):
    data = {"file": (io.BytesIO(text.encode("utf-8")), name), "datum": "auto",
            "csrf_token": fresh_token(c, "/admin/import")}
    return c.post(f"/admin/import?lang={lang}", data=data, content_type="multipart/form-data")


def _token(html: str) -> str:
    m = re.search(r'action="/admin/import/([A-Za-z0-9_-]+)/cancel"', html)
    assert m
    return m.group(1)


def _first_cells(html: str, table_id: str) -> list[int]:
    """The row numbers (first cells) of the body rows of the table ``table_id``."""
    m = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert m, table_id
    body = m.group(1)
    rows = re.findall(r"<tr><td>(\d+)</td>", body)
    assert len(rows) == body.count("<tr>")
    return [int(r) for r in rows]


def test_a_large_preview_lists_the_first_rows_of_each_outcome_with_whole_counts(big):
    app, text, where = big
    c = _client(app, "zl")
    r = _upload(c, text)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    n = PREVIEW_MAX_ROWS
    total = sum(COUNTS.values())
    assert (f"共 {total} 行：新增 {COUNTS['new']}，修改 {COUNTS['changed']}，不变 {COUNTS['unchanged']}，"
            f"无效 {COUNTS['problem']}。") in html
    for outcome, table_id in (("new", "new"), ("changed", "changed"), ("unchanged", "unchanged"),
                              ("problem", "problems")):
        assert _first_cells(html, table_id) == where[outcome][:n], outcome
    for outcome in ("new", "changed", "unchanged"):
        assert f"显示前 {n} 行，共 {COUNTS[outcome]} 行。" in html
    assert f"问题（{COUNTS['problem']}）" in html and f"显示前 {n} 条，共 {COUNTS['problem']} 条。" in html
    # a changed row still shows what changed
    assert "预览驿站2（改）" in html and "<del>预览驿站2</del>" in html
    assert f'href="/admin/import/{_token(html)}/problems.csv"' in html
    # in English too
    html_en = _upload(c, text, lang="en").get_data(as_text=True)
    assert f"Showing the first {n} of {COUNTS['new']} rows." in html_en
    assert f"Showing the first {n} of {COUNTS['problem']} problems." in html_en
    assert "Download every problem (CSV)" in html_en


def test_the_problem_list_download_holds_every_problem_neutralised(big):
    app, text, where = big
    c = _client(app, "zl")
    token = _token(_upload(c, text).get_data(as_text=True))
    r = c.get(f"/admin/import/{token}/problems.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "big-problems.csv" in disposition
    body = r.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert tuple(table[0]) == PROBLEM_COLUMNS
    problems = [dict(zip(table[0], r)) for r in table[1:]]
    assert [int(p["row"]) for p in problems] == where["problem"]  # every one, in row order
    assert {p["field"] for p in problems} == {"phone"}
    for p in problems:
        # the value as uploaded (=1+<i>) is written so that no spreadsheet runs it
        assert p["value"].startswith("'=") and re.fullmatch(r"=1\+\d+", restore_cell(p["value"]))
    assert b"\n=" not in body and b',"=' not in body
    # the upload is still there: the list can be fetched again, and the import confirmed
    assert c.get(f"/admin/import/{token}/problems.csv").status_code == 200


def test_the_problem_list_is_the_uploaders_only(big):
    app, text, _where = big
    c = _client(app, "zl")
    token = _token(_upload(c, text).get_data(as_text=True))
    assert c.get(f"/admin/import/{token}/problems.csv").status_code == 200
    assert _client(app, "tn").get(f"/admin/import/{token}/problems.csv").status_code == 404
    assert _client(app, "admin").get(f"/admin/import/{token}/problems.csv").status_code == 404
    anon = _client(app).get(f"/admin/import/{token}/problems.csv")
    assert anon.status_code == 302 and "/login" in anon.headers["Location"]  # sign in first
    assert c.get("/admin/import/not-a-token/problems.csv").status_code == 404
    assert c.get(f"/admin/import/{token[:-2]}xx/problems.csv").status_code == 404


def test_the_problem_list_has_the_scope_problems_too_after_the_files_own(make_web_app):
    app = make_web_app([])
    add_users(app.extensions["stationmap"].store)
    c = _client(app, "zl")
    text = _csv([_row(1), _row(2, adcode="320402"), _row(3, phone="@SUM(A1)"), _row(4, adcode="320402"),
                 _row(5, phone="+cmd|' /C calc'!A0")])
    html = _upload(c, text, name="s.csv").get_data(as_text=True)
    assert "问题（4）" in html and "确认导入" not in html
    # the file's problems in row order, then the rows outside zl's districts: as in the download
    assert _first_cells(html, "problems") == [4, 6, 3, 5]
    r = c.get(f"/admin/import/{_token(html)}/problems.csv")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert [(p["row"], p["field"]) for p in rows] == [("4", "phone"), ("6", "phone"), ("3", "adcode"),
                                                      ("5", "adcode")]
    assert [p["value"] for p in rows] == ["'@SUM(A1)", "'+cmd|' /C calc'!A0", "320402", "320402"]


def test_the_preview_shows_the_district_each_row_lands_in(make_web_app):
    """Issue 20: rows without an adcode column are placed by their point (苏州工业园区 320571, not the
    county it was cut from); the preview names each row's district as the store will record it."""
    app = make_web_app([])
    add_users(app.extensions["stationmap"].store)
    c = _client(app, "admin")
    text = ("name,lat,lon,kind\n钟楼驿站,31.78,119.93,rest\n园区驿站,31.32,120.72,rest\n"
            "海上驿站,33.5,123.5,rest\n")
    html = _upload(c, text, name="s.csv").get_data(as_text=True)
    new = re.search(r'<table[^>]*id="new".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    cells = re.findall(r'<tr><td>(\d+)</td><td>([^<]*)</td><td class="district">([^<]*)</td>', new)
    assert cells == [("2", "钟楼驿站", "常州市 钟楼区（320404）"), ("3", "园区驿站", "苏州市 苏州工业园区（320571）")]
    assert _first_cells(html, "problems") == [4] and "不在任何已知区县内" in html  # the sea row
    # confirmed with "skip invalid rows": the store records the districts the preview showed
    data = {"file": (io.BytesIO(text.encode("utf-8")), "s.csv"), "datum": "auto", "skip_invalid": "1",
            "csrf_token": fresh_token(c, "/admin/import")}
    html = c.post("/admin/import", data=data, content_type="multipart/form-data").get_data(as_text=True)
    c.post(f"/admin/import/{_token(html)}", data={"csrf_token": fresh_token(c, "/admin/import")})
    stored = {s.name: s.adcode for s in app.extensions["stationmap"].store.all()}
    assert stored == {"钟楼驿站": "320404", "园区驿站": "320571"}


def test_the_preview_names_changed_fields_and_values_as_the_pages_do(make_web_app):
    """Issue 20: the changed-field list shows the pages' labels (服务, 热水), never the stored codes
    (``services``, ``hot_water``) or Python lists, in zh and in en."""
    stored = "id,name,kinds,services,lon,lat,adcode\nq-1,标签驿站,rest,,119.93,31.78,320404\n"
    app = make_web_app(parse_stations(io.BytesIO(stored.encode()), filename="s.csv").stations)
    add_users(app.extensions["stationmap"].store)
    c = _client(app, "admin")
    text = "id,name,kinds,services,lon,lat,adcode\nq-1,标签驿站,rest;hot_tea,hot_water,119.93,31.78,320404\n"

    def changes(lang: str) -> str:
        html = _upload(c, text, name="s.csv", lang=lang).get_data(as_text=True)
        return re.search(r'<table[^>]*id="changed".*?<tbody>(.*?)</tbody>', html, re.S).group(1)

    zh = changes("zh")
    assert "<strong>服务</strong>：<del></del> → <ins>热水</ins>" in zh
    assert "<strong>类型</strong>" in zh and "热茶点" in zh
    en = changes("en")
    assert "<strong>Services</strong>" in en and "Hot water" in en
    for html in (zh, en):
        assert "hot_water" not in html and "services" not in html and "[" not in html
