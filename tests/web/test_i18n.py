"""The English catalogue covers every UI string, and the committed .mo matches the .po."""

from __future__ import annotations

import gettext
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from stationmap.config import PACKAGE_DIR

TRANSLATIONS = PACKAGE_DIR / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"


BABEL_CFG = TRANSLATIONS / "babel.cfg"


def ui_strings() -> set[str]:
    """Every gettext message id in the files ``babel.cfg`` names (the web layer's Python and
    templates, and the library modules with UI prose), found by Babel's extractors as
    ``pybabel extract`` finds them."""
    with BABEL_CFG.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(BABEL_CFG))
    found = set()
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
            str(PACKAGE_DIR.parent), method_map=method_map, options_map=options_map):
        found.add(msg if isinstance(msg, str) else msg[0])
    return found


def test_babel_cfg_names_every_module_with_ui_prose():
    """A library module that takes ``labels.translations(lang).gettext`` is extracted too."""
    with BABEL_CFG.open() as f:
        method_map, _options = parse_mapping_cfg(f, str(BABEL_CFG))
    from babel.util import pathmatch

    root = PACKAGE_DIR.parent
    users = [p for p in PACKAGE_DIR.rglob("*.py")
             if "translations(" in p.read_text(encoding="utf-8") and p.name != "labels.py"]
    assert users  # the coverage map, the charts and the static site do
    for p in users:
        rel = p.relative_to(root).as_posix()
        assert any(pathmatch(pattern, rel) for pattern, method in method_map if method == "python"), \
            f"{rel} uses labels.translations(); list it in {BABEL_CFG.relative_to(root)}"


def test_every_ui_string_has_an_english_translation():
    strings = ui_strings()
    assert len(strings) > 50  # the extractors did find the templates' strings
    mo = gettext.GNUTranslations(MO.open("rb"))
    untranslated = sorted(s for s in strings if not mo._catalog.get(s))
    assert not untranslated, ("add English to " + str(PO.relative_to(PACKAGE_DIR.parent))
                              + " and compile it (stationmap/translations/README.md): " + repr(untranslated))


def test_compiled_catalogue_matches_the_po_file():
    with PO.open("rb") as f:
        po = read_po(f)
    mo = gettext.GNUTranslations(MO.open("rb"))
    po_pairs = {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}
    mo_pairs = {k: v for k, v in mo._catalog.items() if k}
    assert po_pairs == mo_pairs, "messages.mo is stale: run pybabel compile (stationmap/translations/README.md)"


def test_translations_keep_their_placeholders():
    with PO.open("rb") as f:
        po = read_po(f)
    import re

    for m in po:
        if m.id and m.string:
            assert sorted(re.findall(r"%\(\w+\)s", m.id)) == sorted(re.findall(r"%\(\w+\)s", m.string)), m.id


def test_ui_is_chinese_by_default_and_english_on_request(ro_client):
    assert "附近的工会驿站" in ro_client.get("/").get_data(as_text=True)
    en = ro_client.get("/?lang=en").get_data(as_text=True)
    assert "Union rest stations near you" in en
    # strings handed to the finder script are translated too
    assert "Your position is unavailable" in en
    assert Path(MO).stat().st_size > 1000


def test_the_english_catalogue_defines_each_message_once():
    """A merge of two branches can leave a msgid twice; the compiler keeps one silently."""
    import collections
    import re

    po = Path(__file__).resolve().parents[2] / "stationmap/translations/en/LC_MESSAGES/messages.po"
    ids = re.findall(r'^msgid ((?:".*"\n)+)', po.read_text(encoding="utf-8"), flags=re.M)
    twice = [i for i, n in collections.Counter(ids).items() if n > 1 and i != '""\n']
    assert not twice, f"defined more than once in {po.name}: {twice}"
