"""How a long-running host process sets up CPython's cyclic garbage collector.

Reference counting frees almost everything a worker allocates; the cyclic collector exists for
the rest. Left at CPython's defaults it cost a worker about a fifth of its CPU on the pipeline
bench (6.4 s of 27 s over 80,000 events): every event replaces a cached state, the new state's
containers outlive the young generation, and the steady inflow into the oldest generation
triggers full collections, each of which walks the whole heap (about 140 ms apiece).

:func:`tune_collector` does three things, once, when a process has finished starting:

- ``gc.freeze()`` moves the start-up heap (modules, classes, schemas, settings) out of every
  later collection: it is never garbage, and walking it was most of a full collection's cost;
- a young-generation threshold of ``gen0_threshold`` allocations instead of 700, so the
  collector runs about 14 times less often (a young collection then takes a few milliseconds);
- full collections after 100 middle-generation ones instead of 10: they find nothing in a host
  whose long-lived objects are its caches.

Cyclic garbage is still collected, only later. The state types are not tracked at all
(``gc=False`` in :mod:`processors.engine.state`). ``AGENTFLOW_GC_THRESHOLD=0`` keeps Python's
defaults.
"""

from __future__ import annotations

import gc

#: Middle-generation collections per young one, and full collections per middle one.
MIDDLE_PER_YOUNG = 20
FULL_PER_MIDDLE = 100


def tune_collector(gen0_threshold: int) -> None:
    """Freeze the start-up heap and raise the collector's thresholds (see the module doc);
    ``gen0_threshold`` 0 leaves the collector as Python set it up."""
    if gen0_threshold <= 0:
        return
    gc.collect()  # what start-up left as garbage goes now, not into the permanent generation
    gc.freeze()
    gc.set_threshold(gen0_threshold, MIDDLE_PER_YOUNG, FULL_PER_MIDDLE)
