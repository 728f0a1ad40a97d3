"""Posters at a station's door: a printable page per station that invites a check-in.

Each poster (A4 or A5, :data:`~stationmap.config.POSTER_SIZES`) says, Chinese first and English
second: the district union that runs the station (:attr:`stationmap.districts.District.union_name`),
the kinds, the station's name (and English name), its hours in words, its services (with their own
hours), its address and phone, and a QR code that opens the station's check-in page
(:func:`checkin_url`: ``<base>/stations/<id>/reports``).  A sample station says so on its poster.

Every text is laid out inside its box: wrapped (between words, or anywhere in Chinese text), then
set smaller down to a floor, then cut with "…" (:func:`fit_lines`), so no name or address, however
long, runs off the page.  Text is drawn as text (never read as markup): a name with ``<b>`` prints
``<b>``.  The QR code is drawn as vector squares (:mod:`segno`, error correction M, the quiet zone
of four modules kept white), the PDF is written by :mod:`reportlab` with a CJK TrueType font
(:func:`find_font`: Debian's ``fonts-wqy-microhei``, which ``make system-deps`` installs).

This module never imports Flask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from stationmap.config import POSTER_FONT_PATHS, POSTER_SIZES
from stationmap.errors import ConfigError, ValidationError
from stationmap.hours import hours_words
from stationmap.labels import KIND_LABELS, SERVICE_LABELS, join_labels, label
from stationmap.model import Station

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

    from stationmap.districts import Districts

#: the font's name inside the PDF
FONT_NAME = "StationmapCJK"
#: the smallest text a poster sets, in points (A4; an A5 poster scales it)
MIN_POINTS = 7.0
_ELLIPSIS = "…"
#: a run of Latin letters, digits and their punctuation is one word; anything else (a Chinese
#: character, a space) is a token of its own
_TOKENS = re.compile(r"\s+|[0-9A-Za-z\u00c0-\u024f'\u2019\-_.,:;!?@&/#%+=()\[\]<>\"*~^|\\{}$]+|.", re.S)


def check_size(size: object) -> str:
    """``size`` (``a4`` / ``a5``, either case) if it is one of :data:`POSTER_SIZES`; ValidationError otherwise."""
    value = size.lower() if isinstance(size, str) else size
    if value not in POSTER_SIZES:
        raise ValidationError(f"size must be one of {POSTER_SIZES}, got {size!r}", field="size")
    return str(value)


def checkin_url(base_url: str, station_id: str) -> str:
    """The absolute address of a station's check-in page: ``<base_url>/stations/<id>/reports``
    (the id percent-encoded as one path segment, as the web app's router reads it)."""
    base = (base_url or "").strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", base):
        raise ValidationError(f"the base URL must be an absolute http(s) address, got {base_url!r}",
                              field="base_url")
    return f"{base}/stations/{quote(station_id, safe='')}/reports"


def find_font(path: str | Path = "") -> Path:
    """The CJK font of the posters: ``path`` if given (it must exist), else the first of
    :data:`POSTER_FONT_PATHS` that exists; ConfigError saying how to get one otherwise."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"the poster font {str(p)!r} (STATIONMAP_POSTER_FONT) does not exist")
        return p
    for candidate in POSTER_FONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError("no CJK font for the posters: install Debian's fonts-wqy-microhei (`make system-deps`, or "
                      "apt-get install fonts-wqy-microhei), or set STATIONMAP_POSTER_FONT to a .ttf or .ttc file "
                      f"(looked for {', '.join(POSTER_FONT_PATHS)})")


@lru_cache(maxsize=4)
def _register(path: str) -> str:
    """Register the font at ``path`` with reportlab (once); its name in the PDF."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = f"{FONT_NAME}{len(pdfmetrics.getRegisteredFontNames())}"
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
    except (TTFError, OSError) as exc:
        raise ConfigError(f"the poster font {path!r} cannot be read: {exc}") from None
    return name


def _width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return float(stringWidth(text, font, size))


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` points: broken between words, between Chinese
    characters, inside a word only when it alone is too wide; a newline in ``text`` starts a line."""
    lines: list[str] = []
    for para in (text or "").split("\n"):
        line = ""
        for token in _TOKENS.findall(para):
            if token.isspace():
                if line:
                    line += " "
                continue
            if _width(line + token, font, size) <= width:
                line += token
                continue
            if line.strip():
                lines.append(line.rstrip())
                line = ""
            for ch in token:  # a word wider than the line is cut where it must be
                if line and _width(line + ch, font, size) > width:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line.rstrip())
    return lines


@dataclass(frozen=True)
class Fitted:
    """Paragraphs laid out in a box: the point size and the lines of each paragraph."""

    size: float
    lines: tuple[tuple[str, float], ...]  # (text, size) from the top
    leading: float = 1.3

    @property
    def height(self) -> float:
        return sum(s * self.leading for _t, s in self.lines)


def fit_lines(paragraphs: Sequence[tuple[str, float]], font: str, *, width: float, height: float,
              size: float, min_size: float, leading: float = 1.3) -> Fitted:
    """Paragraphs ``(text, scale)`` set at ``size * scale`` points (``min_size`` at least), wrapped to
    ``width``; the whole set smaller (down to ``min_size``) until they fit ``height``, and at
    ``min_size`` the lines that do not fit dropped, the last one kept ending in "…"."""
    s = size
    while True:
        lines = [(line, max(min_size, s * scale)) for text, scale in paragraphs if text
                 for line in wrap(text, font, max(min_size, s * scale), width)]
        fitted = Fitted(s, tuple(lines), leading)
        if fitted.height <= height or s <= min_size:
            break
        s = max(min_size, s * 0.9)
    if fitted.height <= height:
        return fitted
    kept: list[tuple[str, float]] = []
    used = 0.0
    for text, sz in lines:
        if used + sz * leading > height:
            break
        kept.append((text, sz))
        used += sz * leading
    if kept:  # the last line kept says that more was cut
        text, sz = kept[-1]
        while text and _width(text + _ELLIPSIS, font, sz) > width:
            text = text[:-1]
        kept[-1] = (text + _ELLIPSIS, sz)
    return Fitted(s, tuple(kept), leading)


@dataclass(frozen=True)
class PosterStation:
    """A station with what its poster says beyond the station: the union's name and the check-in address."""

    station: Station
    union: str
    url: str


def poster_items(stations: Sequence[Station], districts: Districts, base_url: str) -> list[PosterStation]:
    """The posters of ``stations``: each with its district's union (:attr:`~stationmap.districts.District.union_name`;
    the station's operator when its district is not known) and its check-in address under ``base_url``."""
    out = []
    for st in stations:
        union = districts.get(st.adcode).union_name if st.adcode and st.adcode in districts else st.operator
        out.append(PosterStation(st, union, checkin_url(base_url, st.id)))
    return out


def district_stations(stations: Sequence[Station], adcode: str) -> list[Station]:
    """The stations of district ``adcode`` that get a poster (every one not closed), by id."""
    return sorted((s for s in stations if s.adcode == adcode and s.status != "closed"), key=lambda s: s.id)


def _services_text(station: Station, lang: str) -> str:
    own = dict(station.service_hours)
    sep = "、" if lang == "zh" else ", "
    parts = []
    for s in station.services:
        name = label(SERVICE_LABELS, s, lang)
        if s in own:
            name += f"（{hours_words(own[s], lang)}）" if lang == "zh" else f" ({hours_words(own[s], lang)})"
        parts.append(name)
    return sep.join(parts)


def _draw(c: Canvas, item: PosterStation, font: str, width: float, height: float) -> None:
    """One poster on the canvas ``c`` (a reportlab Canvas) of ``width`` x ``height`` points."""
    import segno

    st = item.station
    k = width / 595.0  # A4's width: the sizes below are A4's, scaled for A5
    margin = 36 * k
    inner = width - 2 * margin
    min_size = MIN_POINTS * k  # the floor of every block, A5 scaled
    top = height - margin

    def block(paragraphs: Sequence[tuple[str, float]], box_h: float, size: float, *, centred: bool = False,
              colour: tuple[float, float, float] = (0, 0, 0), smallest: float = MIN_POINTS) -> float:
        """Draw ``paragraphs`` in the box from ``top`` down (no smaller than ``smallest`` A4 points);
        the height used."""
        fitted = fit_lines(paragraphs, font, width=inner, height=box_h, size=size, min_size=smallest * k)
        c.setFillColorRGB(*colour)
        y = top
        for text, sz in fitted.lines:
            y -= sz * fitted.leading
            c.setFont(font, sz)
            if centred:
                c.drawCentredString(width / 2, y + sz * 0.25, text)
            else:
                c.drawString(margin, y + sz * 0.25, text)
        return fitted.height

    # the union and the kinds, on a band of the unions' red
    band = 58 * k
    c.setFillColorRGB(0.75, 0.1, 0.1)
    c.rect(0, height - band - margin / 2, width, band + margin / 2, stroke=0, fill=1)
    top = height - margin / 2 - 6 * k
    kinds_zh = join_labels(KIND_LABELS, st.kinds, "zh")
    kinds_en = join_labels(KIND_LABELS, st.kinds, "en")
    block([(item.union or kinds_zh, 1.0), (f"{kinds_zh} · {kinds_en}", 0.62)], band - 6 * k, 21 * k,
          colour=(1, 1, 1), smallest=9)
    top = height - band - margin / 2 - 14 * k
    if st.is_sample:
        top -= block([("示例数据，不是真实站点 · SAMPLE DATA, not a real station", 1.0)], 16 * k, 11 * k,
                      colour=(0.75, 0.1, 0.1)) + 4 * k
    # the name, as large as it fits
    top -= block([(st.name, 1.0), (st.name_en, 0.5)], 118 * k, 36 * k, centred=True, smallest=12) + 10 * k
    # what the station offers, under the name: as much room as it needs, down to a smallest code
    footer = 22 * k
    caption_h = 52 * k
    gap = 12 * k
    min_qr = 200 * k   # about 7 cm on A4, 5 cm on A5: read from a step or two away
    info = [(f"开放时间：{hours_words(st.opening_hours, 'zh')}", 1.0),
            (f"Hours: {hours_words(st.opening_hours, 'en')}", 0.8)]
    if st.services:
        info += [(f"服务：{_services_text(st, 'zh')}", 1.0), (f"Services: {_services_text(st, 'en')}", 0.8)]
    if st.address:
        info.append((f"地址 Address：{st.address}", 1.0))
    if st.phone:
        info.append((f"电话 Phone：{st.phone}", 1.0))
    bottom = margin + footer + caption_h   # the code stands on its invitation, above the footer
    room = top - bottom - min_qr - 2 * gap
    if room > min_size * 1.3:
        top -= block(info, room, 15 * k)
    # the QR code: as large as the rest of the page allows (up to 300 pt on A4), centred in it
    qr_side = max(min(inner, 300 * k, top - bottom - 2 * gap), min_qr)
    qr_bottom = bottom + max(0.0, (top - bottom - qr_side) / 2)
    qr = segno.make(item.url, error="m")
    modules = qr.symbol_size(border=4)[0]
    unit = qr_side / modules
    x0 = (width - qr_side) / 2
    c.setFillColorRGB(1, 1, 1)
    c.rect(x0, qr_bottom, qr_side, qr_side, stroke=0, fill=1)
    c.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(qr.matrix):
        for col, dark in enumerate(row):
            if dark:
                c.rect(x0 + (col + 4) * unit, qr_bottom + qr_side - (r + 5) * unit, unit, unit, stroke=0, fill=1)
    top = qr_bottom - 2 * k
    block([("扫码反馈：站点开着吗？设施好用吗？", 1.0), ("Scan to check in: is it open, does everything work?", 0.75),
           (item.url, 0.55)], caption_h - 2 * k, 14 * k, centred=True)
    top = margin + footer
    block([(f"{item.union or kinds_zh} · 工会驿站地图 stationmap", 1.0)], footer, 8 * k, centred=True,
          colour=(0.4, 0.4, 0.4))


def poster_pdf(items: Sequence[PosterStation], *, size: str = "a4", font_path: str | Path = "") -> bytes:
    """A PDF of one poster (one page) per item, on ``size`` paper (``a4``, ``a5``), with the CJK font
    at ``font_path`` (default :func:`find_font`'s)."""
    from reportlab.lib.pagesizes import A4, A5
    from reportlab.pdfgen.canvas import Canvas

    size = check_size(size)
    if not items:
        raise ValidationError("no stations to make posters of", field="stations")
    font = _register(str(find_font(font_path)))
    page = {"a4": A4, "a5": A5}[size]
    out = BytesIO()
    c = Canvas(out, pagesize=page, pageCompression=1)
    title = items[0].station.name if len(items) == 1 else (items[0].union or "stationmap")
    c.setTitle(f"{title} · 工会驿站海报")
    c.setAuthor(items[0].union or "stationmap")
    c.setCreator("stationmap")
    for item in items:
        _draw(c, item, font, float(page[0]), float(page[1]))
        c.showPage()
    c.save()
    return out.getvalue()


def poster_stem(station: Station) -> str:
    """``<id>`` (``<id>_SAMPLE`` for a sample station), the id made safe for a file name."""
    safe = re.sub(r"[^0-9A-Za-z_.-]+", "_", station.id).strip("._") or "station"
    return f"{safe}{'_SAMPLE' if station.is_sample else ''}"


def district_stem(adcode: str, stations: Sequence[Station]) -> str:
    """``posters_<adcode>`` (``posters_<adcode>_SAMPLE`` when any station is a sample): the file of a
    district's posters."""
    return f"posters_{adcode}{'_SAMPLE' if any(s.is_sample for s in stations) else ''}"


def poster_filename(stem: str, size: str) -> str:
    """``<stem>_A4.pdf``."""
    return f"{stem}_{check_size(size).upper()}.pdf"
