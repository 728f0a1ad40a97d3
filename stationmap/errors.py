"""Error types.  Each one carries the HTTP status the web layer answers with.

The library raises these; the CLI prints ``message`` (with file, line and field
where known) and exits non-zero; the web layer turns them into
``{"error": {"code", "message", "field"}}`` with ``http_status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class StationmapError(Exception):
    """Base class of every error stationmap raises on purpose."""

    http_status = 500
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the web layer answers with: ``{"error": {"code", "message", "field"}}``."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class ValidationError(StationmapError, ValueError):
    """Bad input: a parameter, a field of a record, a file row."""

    http_status = 400
    code = "invalid"


class TooLargeError(ValidationError):
    """Input beyond a size limit (rows, unpacked bytes): 413 Content Too Large.

    ``limit`` and ``unit`` say which limit (``"rows"`` or ``"bytes"``), so a
    page can say it in its own language.
    """

    http_status = 413
    code = "too_large"

    def __init__(self, message: str, *, limit: int, unit: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.limit = limit
        self.unit = unit


class NotFoundError(StationmapError, LookupError):
    """A station, district or network that does not exist."""

    http_status = 404
    code = "not_found"


class ConflictError(StationmapError):
    """A write that clashes with the stored state (duplicate id, stale edit)."""

    http_status = 409
    code = "conflict"


class FetchError(StationmapError):
    """Downloading data failed (no route, DNS, HTTP error, a truncated or corrupt file): the
    message names the URL and what to do."""

    http_status = 502
    code = "fetch"


class ConfigError(StationmapError):
    """Configuration that cannot work (bad database URL, missing data file)."""

    http_status = 500
    code = "config"


class _Reportable(Protocol):
    """A problem of an import (:class:`stationmap.model.Problem` and its kin)."""

    def to_dict(self) -> dict[str, Any]: ...


class ImportReportError(ValidationError):
    """An import with invalid rows; ``problems`` lists every one of them."""

    code = "invalid_rows"

    def __init__(self, message: str, problems: Sequence[_Reportable], *, source: str | None = None,
                 warnings: Sequence[str] = (), result: Any = None) -> None:
        super().__init__(message)
        self.problems = problems
        self.source = source
        #: the import's warnings (a missing kinds column, ...), shown with the problems
        self.warnings = list(warnings)
        #: the :class:`stationmap.io.importer.ImportResult` of the refused import (typed Any here:
        #: this module imports nothing of the package's)
        self.result = result

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["error"]["problems"] = [p.to_dict() for p in self.problems]
        return d


def geodata_read_errors() -> tuple[type[Exception], ...]:
    """The exception types pyogrio / GDAL raise for a missing, corrupt or unreadable file."""
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError

    return (DataSourceError, DataLayerError, FieldError, RuntimeError, OSError, ValueError)


class PointTextError(ValidationError):
    """Typed or pasted coordinates that cannot be read (:func:`stationmap.coords.parse_point_text`).

    ``reason`` says which problem, so a page can say it in its own language: ``"empty"``,
    ``"no_numbers"``, ``"outside_china"``, ``"short_link"``, ``"mercator"`` (Baidu's
    ``bd09mc``), ``"link_without_point"``, ``"too_long"``.
    """

    def __init__(self, message: str, *, reason: str, field: str | None = "text") -> None:
        super().__init__(message, field=field)
        self.reason = reason
