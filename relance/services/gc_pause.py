"""Python's cyclic garbage collector paused around work that makes many objects and no reference cycle worth
collecting meanwhile (reference counting frees the rest): WeasyPrint's layout of a generated invoice, the engine's
selection of a million invoices. The collector otherwise ran over and over, a fifth to a third of that work's time."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused(keep: bool = False) -> Iterator[None]:
    """`keep`: what was made stays alive after (the selection's results): it is put in the oldest generation on the
    way out (`gc.freeze` then `gc.unfreeze`: two list moves, and the count of new objects back to zero) instead of
    being examined one by one at once by the young collection that re-enabling starts (half a second for half a
    million results); a full collection still sees it. Not when objects are frozen already (a server may freeze
    its own before forking: unfreezing would give them back). Without `keep` (a letter), its garbage goes at the
    first collection after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if keep and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


@contextmanager
def young_only() -> Iterator[None]:
    """The collector goes on over the objects made meanwhile, not over the ones there before (the app's: the full
    collections went through them again and again: 0.39 s of sending 5,664 emails, 0.05 s now). For work that
    leaves cyclic garbage as it goes (a generated invoice's WeasyPrint layout: about 1 MB each), which `paused`
    would keep until the end. `gc.freeze` on the way in, `gc.unfreeze` on the way out (two list moves); nothing
    done when objects are frozen already (see `paused`)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
