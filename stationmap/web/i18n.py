"""Languages: Chinese (zh, default) first, English second, with Flask-Babel.

The language comes from ``?lang=zh|en`` (remembered in a cookie), else the
cookie, else the instance default (``STATIONMAP_DEFAULT_LANG``, ``zh``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_babel import Babel

from stationmap.labels import LANGS, TRANSLATIONS_DIR, say
from stationmap.web import ui
from stationmap.web.http import skip_on_api_reads
from stationmap.web.state import state


def select_locale() -> str:
    """``?lang=``, else the ``lang`` cookie, else the instance's default language."""
    lang = request.args.get("lang") or request.cookies.get("lang")
    if lang in LANGS:
        return lang
    return state().settings.default_lang if state().settings.default_lang in LANGS else "zh"


def api_lang() -> str:
    """The language of the JSON API's words for people (an error's ``display_message``): ``?lang=``
    (``zh``, ``en``), else the first of Chinese and English in the request's Accept-Language (by its
    order of preference; ``zh-CN`` counts as Chinese, a ``*`` as neither), else English, the
    language of the API's ``message`` (a program that sends neither gets the words it parses)."""
    lang = request.args.get("lang")
    if lang in LANGS:
        return lang
    for value, quality in request.accept_languages:
        primary = value.split("-", 1)[0].split("_", 1)[0].lower()
        if quality > 0 and primary in LANGS:
            return primary
    return "en"


def init_app(app: Flask) -> None:
    """Flask-Babel, the language cookie, and ``lang`` in every template."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=select_locale)

    @app.after_request
    def _remember(resp: Response) -> Response:
        if resp.mimetype != "text/html":  # JSON, files: no language to remember
            return resp
        lang = request.args.get("lang")
        if lang in LANGS and request.cookies.get("lang") != lang:
            resp.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax")
        return resp

    skip_on_api_reads(app, _remember)    # the API answers JSON

    @app.template_filter("say")
    def _say(message: str) -> str:
        """A library message (English) in the page's language: ``{{ p.message|say }}``."""
        return say(message, ui.lang())

    @app.context_processor
    def _lang() -> dict[str, Any]:
        return {"lang": ui.lang()}
