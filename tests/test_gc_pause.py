"""The collector around batch work (`services/gc_pause.py`): paused, or going on over the new objects only."""

from __future__ import annotations

import gc
import weakref

from relance.services import gc_pause


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_young_only_collects_the_garbage_made_inside_and_gives_the_old_objects_back():
    assert gc.get_freeze_count() == 0
    gc.disable()  # no collection between the making of `old` and the freeze
    try:
        old = weakref.ref(Node())  # cyclic garbage made before: frozen with the rest, left alone until the end
        with gc_pause.young_only():
            gc.enable()
            assert gc.get_freeze_count() > 0
            made = weakref.ref(Node())
            gc.collect()
            assert made() is None  # made inside: collected inside
            assert old() is not None
            with gc_pause.young_only():  # nested: nothing more frozen, nothing given back early
                assert gc.get_freeze_count() > 0
            assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert old() is None


def test_paused_keeps_the_garbage_until_the_end():
    with gc_pause.paused():
        assert not gc.isenabled()
        made = weakref.ref(Node())
    assert gc.isenabled()
    gc.collect()
    assert made() is None
