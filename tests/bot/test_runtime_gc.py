"""The collector tuning ``sorabot run`` (and bench/track.py) applies after start-up."""

from __future__ import annotations

import gc

from bot.runtime import GC_YOUNG_THRESHOLD, settle_heap


def test_settle_heap_freezes_start_up_objects_and_collects_young_ones_less_often() -> (
    None
):
    threshold = gc.get_threshold()
    gc.unfreeze()  # whatever an earlier test froze must not count
    try:
        settle_heap()

        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
