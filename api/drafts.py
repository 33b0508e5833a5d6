"""Engines for versions that are not in force (drafts, submitted, approved), for the
workbench's trials: the service keeps one :class:`DraftEngines` (``Service.drafts``)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from assay.engine import Engine
from assay.engine.store.rulesets import RuleStore, Version


class DraftEngines:
    """Engines for draft versions, compiled on first use and kept by (id, sha256): an edit
    changes the sha256, so a changed draft is compiled again. At most ``size`` are kept,
    the least recently used dropped. Always the compiled evaluator: it holds no process, so
    an engine dropped from the cache needs no closing (the rete evaluator's host would)."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._engines: OrderedDict[tuple[int, str], Engine] = OrderedDict()
        self._lock = threading.Lock()

    def engine(self, store: RuleStore, version: Version) -> Engine:
        """Blocking (it may compile): call it off the event loop."""
        key = (version.id, version.sha256)
        with self._lock:
            found = self._engines.get(key)
            if found is not None:
                self._engines.move_to_end(key)
                return found
        built = Engine(store.compile(version.id), kind="compiled", version_id=version.id)
        with self._lock:
            self._engines[key] = built
            self._engines.move_to_end(key)
            while len(self._engines) > self._size:
                self._engines.popitem(last=False)
        return built
