"""Workbooks that unpack to far more than they weigh (zip bombs), built in memory quickly."""

from __future__ import annotations

import io
import re
import zipfile

from openpyxl import Workbook


def xlsx_bomb(rows: int) -> bytes:
    """A valid .xlsx whose one sheet has a station header and ``rows`` identical data rows.

    openpyxl writes a one-row workbook; its sheet XML is then replaced by the header and
    ``rows`` copies of one row (no row numbers: readers count them), deflated.
    """
    wb = Workbook()
    ws = wb.active
    ws.append(["name", "lon", "lat", "kinds"])
    ws.append(["x", 119.95, 31.78, "rest"])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    sheet = src.read("xl/worksheets/sheet1.xml").decode()
    row = ('<row><c t="inlineStr"><is><t>x</t></is></c><c><v>119.95</v></c><c><v>31.78</v></c>'
           '<c t="inlineStr"><is><t>rest</t></is></c></row>')
    header = ('<row><c t="inlineStr"><is><t>name</t></is></c><c t="inlineStr"><is><t>lon</t></is></c>'
              '<c t="inlineStr"><is><t>lat</t></is></c><c t="inlineStr"><is><t>kinds</t></is></c></row>')
    head, tail = re.split(r"<sheetData>.*</sheetData>|<sheetData/>", sheet, flags=re.S)
    head = re.sub(r"<dimension[^>]*/>", "", head)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                with dst.open(item.filename, "w", force_zip64=True) as fh:
                    fh.write((head + "<sheetData>" + header).encode())
                    chunk = (row * 10_000).encode()
                    for _ in range(rows // 10_000):
                        fh.write(chunk)
                    fh.write((row * (rows % 10_000)).encode())
                    fh.write(("</sheetData>" + tail).encode())
            else:
                dst.writestr(item, src.read(item.filename))
    return out.getvalue()
