"""The visible text of a page, and the sentences of it that are English in a Chinese page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: names and codes that stay as they are in a Chinese page
ALLOWED = ("OpenStreetMap", "Leaflet", "stationmap", "OSM", "CSV", "XLSX", "GeoJSON", "GeoPackage", "API",
           "WGS-84", "GCJ-02", "BD-09", "WGS84", "GCJ02", "BD09", "Amap", "Baidu", "Apple", "ODbL", "CC BY",
           "Mo-Fr", "Sa-Su", "PH off", "YYYY-MM-DD", "HH:MM")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z]{2,}")
_SKIP = {"script", "style", "template", "noscript"}
#: a value quoted in a message: what the person typed, shown back as it was
_QUOTED = re.compile("'[^']*'|\"[^\"]*\"|‘[^’]*’|“[^”]*”")
#: a link shown as an example (a share link the picker reads): an address, not a sentence
_URL = re.compile(r"https?://\S+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        # what a person reads or hears of an element besides its text
        for name, value in attrs:
            if value and name in ("title", "placeholder", "aria-label", "alt"):
                self.parts.append(value)
            if value and name == "value" and dict(attrs).get("type") in ("submit", "button"):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_texts(html: str) -> list[str]:
    """The text nodes (and titles, placeholders, labels) a person sees in ``html``, stripped."""
    p = _Text()
    p.feed(html)
    return [t for t in (" ".join(part.split()) for part in p.parts) if t]


def english_sentences(html: str) -> list[str]:
    """The visible pieces of ``html`` with no Chinese character that read as an English sentence
    (three or more words, once the allowed names and codes are taken out)."""
    found = []
    for text in visible_texts(html):
        if _CJK.search(text):
            continue
        rest = _QUOTED.sub(" ", _URL.sub(" ", text))
        for name in ALLOWED:
            rest = rest.replace(name, " ")
        if len(_WORD.findall(rest)) >= 3:
            found.append(text)
    return found


def untranslated(html: str) -> list[str]:
    """As :func:`english_sentences`, and also English sentences of three or more words inside a
    piece of Chinese text (a library message quoted in a Chinese sentence)."""
    found = english_sentences(html)
    for text in visible_texts(html):
        if not _CJK.search(text):
            continue
        for piece in _CJK.split(text):
            rest = _QUOTED.sub(" ", _URL.sub(" ", piece))
            for name in ALLOWED:
                rest = rest.replace(name, " ")
            if len(re.findall(r"[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){2,}", rest)):
                found.append(piece.strip())
    return found
