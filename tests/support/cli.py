"""Running the ``stationmap`` command in-process, as the CLI tests do."""

from __future__ import annotations

from click.testing import CliRunner, Result

from stationmap.cli import main


def run(*args: object, input: str | None = None) -> Result:
    """``stationmap ARGS``; fails the test on a traceback (any exception but SystemExit)."""
    res = CliRunner().invoke(main, [str(a) for a in args], input=input)
    # an exception other than SystemExit would have been a traceback for the user
    assert res.exception is None or isinstance(res.exception, SystemExit), (res.exception, res.output)
    assert "Traceback" not in res.output
    return res
