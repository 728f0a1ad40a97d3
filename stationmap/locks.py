"""Objects that guard lazily built parts with locks, and still pickle.

:class:`FreshLocks` is what the derived-data cache of road networks
(:mod:`stationmap.network.derived`) needs of the objects it keeps: a lock cannot be pickled,
so each is left out and a new one made when the object is read back.
"""

from __future__ import annotations

import threading


class FreshLocks:
    """Pickled without its locks (the attributes named in ``_locks``), unpickled with new ones:
    what the derived-data cache keeps of an object that guards its lazy parts with a lock."""

    _locks: tuple[str, ...] = ("lock",)

    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        for name in self._locks:
            d.pop(name, None)
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        for name in self._locks:
            setattr(self, name, threading.Lock())
