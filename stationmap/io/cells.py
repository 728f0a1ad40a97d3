"""Spreadsheet cells that open safely: formula-like text neutralised in every CSV and XLSX we write.

A spreadsheet (Excel, WPS, LibreOffice) runs a CSV cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=HYPERLINK(...)``, ``+cmd|calc!A0``): "CSV injection".  Following OWASP's
*CSV Injection* page, :func:`safe_cell` puts a single quote before such a
cell, and :func:`write_csv` wraps every text cell in double quotes (doubling
the quotes inside, RFC 4180), so that a ``;`` inside a cell cannot start a new
formula cell where Excel splits on ``;``.  A cell that is wholly a number
(``-12.5``, ``+86``, ``1e3``) is not a formula and stays as it is; numbers are
written unquoted.

The quote is reversible: :func:`restore_cell` (used by the CSV reader) drops
it again, so an exported CSV imports back to the same stations.  A value that
itself starts with quotes before a formula character (``'=x``) gets one more
quote, so the two functions are exact inverses.

XLSX needs no quote: a text cell is text.  :func:`formulas_as_text` makes sure
a worksheet written by pandas/openpyxl holds no formula cell (openpyxl turns a
string starting with ``=`` into a formula unless told otherwise).

Every CSV the project writes goes through :func:`write_csv` (station export,
coverage figures, import problem lists).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import SupportsWrite
    from openpyxl.worksheet.worksheet import Worksheet
    from pandas import DataFrame

#: first characters that make a spreadsheet read a cell as a formula (OWASP)
FORMULA_STARTS = frozenset("=+-@\t\r")
_QUOTED_STARTS = FORMULA_STARTS | {"'"}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _formula_like(text: str) -> bool:
    core = text.lstrip("'")
    return bool(core) and core[0] in FORMULA_STARTS and _NUMBER.match(core) is None


def safe_cell(value: Any) -> str | int | float:
    """A value as a spreadsheet may open it: text that would run as a formula gets a leading ``'``.

    ``"=1+1"`` -> ``"'=1+1"``, ``"+86 519 1234"`` -> ``"'+86 519 1234"``,
    ``"\\tx"`` -> ``"'\\tx"``; ``"-12.5"``, ``"1e3"``, ``"abc"`` and numbers
    are returned unchanged.  None and NaN become ``""``; infinities become
    text (``"inf"``, ``"'-inf"``); other objects their ``str()``, neutralised.
    """
    t = type(value)
    if t is str:
        if value and value[0] in _QUOTED_STARTS and _formula_like(value):
            return "'" + value
        return value
    if value is None:
        return ""
    if t is int or t is bool:
        return value
    if isinstance(value, float):  # float, numpy.float64
        if math.isfinite(value):
            return value if t is float else float(value)  # csv writes repr(): np.float64(...) in numpy 2
        return "" if value != value else safe_cell("inf" if value > 0 else "-inf")
    if hasattr(value, "item"):  # a numpy scalar
        return safe_cell(value.item())
    return safe_cell(str(value))


def restore_cell(text: str) -> str:
    """Undo :func:`safe_cell` on a cell read from a CSV: ``"'=1+1"`` -> ``"=1+1"``.

    Only a quote that :func:`safe_cell` would have added is removed
    (``"'abc"`` and ``"'-12.5"`` stay as they are).
    """
    if text[:1] == "'" and _formula_like(text):
        return text[1:]
    return text


def write_csv(f: SupportsWrite[str], header: Iterable[object] | None, rows: Iterable[Iterable[object]], *,
              lineterminator: str = "\r\n") -> int:
    """Write a CSV table to the text stream ``f``; return the number of rows.

    The header is written plain (it names columns, it is ours; None: no header
    line, for the later parts of a table written in parts); every row cell
    goes through :func:`safe_cell`, text cells are double-quoted and numbers
    are not.  Open ``f`` with ``newline=""``.
    """
    if header is not None:
        csv.writer(f, lineterminator=lineterminator).writerow([safe_cell(h) for h in header])
    w = csv.writer(f, lineterminator=lineterminator, quoting=csv.QUOTE_NONNUMERIC)
    n = 0
    for r in rows:
        w.writerow([safe_cell(v) for v in r])
        n += 1
    return n


def frame_to_csv(df: DataFrame, path: str | Path) -> Path:
    """Write a DataFrame (no index) to ``path`` with :func:`write_csv`, UTF-8 with a BOM (for Excel)."""
    cols = [df[c].tolist() for c in df.columns]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        write_csv(f, [str(c) for c in df.columns], zip(*cols))
    return Path(path)


def formulas_as_text(ws: Worksheet) -> int:
    """Turn every formula cell of the openpyxl worksheet ``ws`` into a text cell; return how many."""
    n = 0
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
                n += 1
    return n


def frames_to_xlsx(sheets: Mapping[str, DataFrame], path: str | Path) -> Path:
    """Write DataFrames (``{sheet name: frame}``, no index) to one XLSX file, text never as formulas.

    Infinities are written as empty cells (XLSX has no infinity).
    """
    import numpy as np
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.replace([np.inf, -np.inf], np.nan).to_excel(xw, sheet_name=name, index=False)
            formulas_as_text(xw.sheets[name])
    return Path(path)
