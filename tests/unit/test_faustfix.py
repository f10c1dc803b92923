"""The work-around for Faust's read-offset race (workers/faustfix.py), on a real Faust consumer."""

from __future__ import annotations

import inspect

import faust
from faust.transport.consumer import Consumer
from faust.types import TP

from workers.faustfix import UnfilteredReadOffsets, disable_read_offset_filter

TP0 = TP("articles.unique", 2)


def consumer() -> Consumer:
    app = faust.App("faustfix-test", broker="kafka://127.0.0.1:1")
    return app.consumer  # created, not started: no broker needed


def test_faust_still_filters_through_the_map_we_replace() -> None:
    # The fix works only while Faust's fetch loop looks records up in ``_read_offset`` by key
    # and drops those below it; a Faust upgrade that changes this must be looked at again.
    source = inspect.getsource(Consumer._drain_messages)
    assert "self._read_offset.__getitem__" in source
    assert "offset >= r_offset" in source
    assert "offset if offset" in inspect.getsource(Consumer.seek)


def test_installed_map_never_filters_but_keeps_offsets() -> None:
    c = consumer()
    c._read_offset[TP0] = 100  # Faust's own map, before the fix
    assert disable_read_offset_filter(c) is True
    offsets = c._read_offset
    assert isinstance(offsets, UnfilteredReadOffsets)
    assert offsets.get(TP0) == 100  # kept
    lookup = offsets.__getitem__  # what Faust's fetch loop binds when it starts
    # The race: a stale batch moved the read offset to 689, the seek went back to 178.
    offsets.update({TP0: 178})
    offsets[TP0] = 689
    assert lookup(TP0) is None  # so record 178 is delivered, not dropped
    assert offsets.get(TP0) == 689 and list(offsets.keys()) == [TP0]
    assert offsets.pop(TP0) == 689  # what Faust does on revocation


def test_installing_twice_is_a_no_op() -> None:
    c = consumer()
    assert disable_read_offset_filter(c) is True
    installed = c._read_offset
    assert disable_read_offset_filter(c) is False
    assert c._read_offset is installed
