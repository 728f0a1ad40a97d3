"""The stations' feature text a worker keeps for the API's answers is bounded in bytes
(config.FEATURE_TEXT_KEPT_BYTES): past the bound it is dropped and built again, with the same answers."""

from __future__ import annotations

from stationmap.web import features


def _kept_bytes() -> int:
    return sum(len(t) for _st, texts in features._FRAGMENTS.values() for t in texts.values())


def test_the_kept_text_stays_within_its_bound_and_the_answers_do_not_change(app, monkeypatch):
    client = app.test_client()
    # (with `at`, no answer body is kept: each request builds its features)
    q = "/api/v1/stations?limit=1000&at=2026-06-01T12:00:00%2B08:00"
    pages = [q, f"{q}&lang=en", f"{q}&out_datum=gcj02", f"{q}&fields=name,kinds"]
    monkeypatch.setattr(features, "_FRAGMENTS", {})
    monkeypatch.setattr(features, "_FRAGMENT_BYTES", [0])
    unbounded = [client.get(p).get_json() for p in pages]
    whole = _kept_bytes()
    assert whole == features._FRAGMENT_BYTES[0] > 0
    # a bound of a third of that: the text is dropped (more than once) and built again
    bound = whole // 3
    monkeypatch.setattr("stationmap.config.FEATURE_TEXT_KEPT_BYTES", bound)
    monkeypatch.setattr(features, "_FRAGMENTS", {})
    monkeypatch.setattr(features, "_FRAGMENT_BYTES", [0])
    for _ in range(2):
        for p, want in zip(pages, unbounded):
            assert client.get(p).get_json() == want
            assert features._FRAGMENT_BYTES[0] == _kept_bytes() <= bound
    assert _kept_bytes() > 0
