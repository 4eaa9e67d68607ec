"""Garbage collection in a server process holding thousands of chargers: measured, and kept from stalling it.

Each connected charger keeps a few hundred long-lived Python objects (socket, protocol, consumer, tasks). CPython's
full collection walks every tracked object, so with 10 000 chargers one full collection stalls the process for
half a second or more, and every charger's answer waits for it (measured: the bare websockets+ocpp floor stalls
0.65–1.2 s at 10 000 connections).

The policy, installed once per server process by ``install()``:

- objects that exist at start-up (Django, the URLconf, models, schemas) are frozen: the collector never looks at
  them again;
- every ``GC_FREEZE_SECONDS`` what was made since is frozen too (an instant: no object is walked), so a collection
  only walks the objects of the last seconds, never the whole fleet's;
- frozen objects are still freed by reference counting; only garbage in reference cycles among them waits for the
  next full sweep, every ``GC_SWEEP_SECONDS``: everything is unfrozen, collected once and frozen again (one pause
  per sweep, measured in ``csms_gc_pause_seconds``).

Every collection's pause is observed in the ``csms_gc_pause_seconds`` histogram (by generation) on ``/metrics``;
a pause longer than ``GC_SLOW_PAUSE_SECONDS`` is logged.
"""

import gc
import logging
import threading
import time

from csms.observability.metrics import Counter, Histogram

logger = logging.getLogger("csms.gc")

GC_PAUSES = Histogram("csms_gc_pause_seconds",
                      "Time this process stood still for a garbage collection, by generation.")
GC_SWEEPS = Counter("csms_gc_sweeps_total", "Full sweeps of the frozen objects, and what they freed.")

_installed = False
#: Pauses longer than this are logged (install() sets it from GC_SLOW_PAUSE_SECONDS).
_slow_pause = 0.1
_started = threading.local()


def _on_collection(phase: str, info: dict) -> None:
    if phase == "start":
        _started.at = time.perf_counter()
        return
    began = getattr(_started, "at", None)
    if began is None:
        return
    pause = time.perf_counter() - began
    generation = info.get("generation", -1)
    GC_PAUSES.observe(pause, generation=str(generation))
    if pause > _slow_pause:
        logger.warning("Garbage collection of generation %s stalled this process for %.0f ms (%s objects "
                       "collected, %s frozen)", generation, pause * 1000, info.get("collected"),
                       gc.get_freeze_count())


def sweep() -> int:
    """Unfreeze everything, collect it all once, freeze the survivors again. Returns the objects freed."""
    began = time.perf_counter()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    GC_SWEEPS.inc(kind="sweeps")
    GC_SWEEPS.inc(freed, kind="objects_freed")
    logger.info("Garbage sweep: %d objects freed in %.0f ms, %d frozen", freed,
                (time.perf_counter() - began) * 1000, gc.get_freeze_count())
    return freed


def _keeper(freeze_seconds: float, sweep_seconds: float) -> None:
    next_sweep = time.monotonic() + sweep_seconds if sweep_seconds > 0 else float("inf")
    while True:
        time.sleep(freeze_seconds)
        if time.monotonic() >= next_sweep:
            sweep()
            next_sweep = time.monotonic() + sweep_seconds
        else:
            gc.freeze()


def install(*, freeze_seconds: float, sweep_seconds: float, slow_pause_seconds: float = 0.1,
            thresholds: tuple[int, int, int] | None = None) -> None:
    """Freeze what exists now, measure every collection, and (freeze_seconds > 0) keep freezing survivors in a
    daemon thread. Once per process; later calls do nothing."""
    global _installed, _slow_pause
    if _installed:
        return
    _installed = True
    _slow_pause = slow_pause_seconds
    gc.collect()
    gc.freeze()
    if thresholds:
        gc.set_threshold(*thresholds)
    gc.callbacks.append(_on_collection)
    if freeze_seconds > 0:
        threading.Thread(target=_keeper, args=(freeze_seconds, sweep_seconds), name="gc-keeper",
                         daemon=True).start()
