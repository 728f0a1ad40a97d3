"""Building many objects at once: :func:`no_gc`, the cyclic collector paused for the build.

Used where thousands of acyclic objects (dicts, strings, stations) are built in one go and
outlive the build: an API page of many features (``stationmap.web.features``) and a file's
import (``stationmap.io.importer``).  Their memory is freed by reference counting as usual;
only the collector's passes over the growing heap, which find nothing to free, are skipped.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc(on: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector while building thousands of acyclic dicts and
    strings: its passes over the app's large heap cost more than the build.

    Measured (this machine):

    - 10,000 stations, the feature pieces built cold, test client:
      ``/api/v1/stations?limit=10000`` 190 ms with the pause against 300-340 ms without;
      the finder's marker query (``fields=kinds,services,open_now``) 130 ms against 240-265 ms;
    - ``stationmap import`` of 200,000 rows (benchmarks/bench_import.py): 1.3 s less CPU
      (9.4 s against 8.1 s).

    The pause is process-wide, for that one build (a view turns it on for pages over 1,000
    stations only); a threaded server's other threads just collect later.
    """
    if not on or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
