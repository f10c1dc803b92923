"""The dedup state with stored verdicts: held writes, round trips, entries without a verdict."""

from __future__ import annotations

from workers.records import CleanedArticle, DedupVerdict
from workers.stream.verdicts import VerdictState, content_digest


def test_an_entry_and_its_verdict_are_written_together() -> None:
    backing: dict[str, bytes] = {}
    state = VerdictState(backing)
    state["a"] = b"\x03entry"
    assert "a" in state and state["a"] == b"\x03entry" and backing == {}
    verdict = DedupVerdict("duplicate", "near", "b", similarity=0.8, containment=0.9)
    state.record("a", verdict, b"12345678")
    assert list(backing) == ["a"]
    assert state["a"] == b"\x03entry"
    stored = state.stored("a")
    assert stored is not None and stored.verdict == verdict and stored.digest == b"12345678"
    assert dict(state.items()) == {"a": b"\x03entry"} and len(state) == 1


def test_entries_written_before_verdicts_were_kept_read_as_entries() -> None:
    state = VerdictState({"old": b"\x02\x00\x00\x00\x00\x00\x00\x00\x00"})
    assert state.stored("old") is None
    assert state["old"].startswith(b"\x02")


def test_discard_drops_held_writes_and_delete_removes_both() -> None:
    backing: dict[str, bytes] = {}
    state = VerdictState(backing)
    state["x"] = b"\x03x"
    state.discard()
    assert "x" not in state and len(state) == 0
    state["y"] = b"\x03y"
    state.record("y", DedupVerdict("unique"), b"\0" * 8)
    del state["y"]
    assert backing == {} and state.stored("y") is None


def test_the_digest_covers_title_and_text() -> None:
    a = CleanedArticle(id="1", text="Some text.", title="T")
    assert content_digest(a) == content_digest(CleanedArticle(id="2", text="Some text.", title="T"))
    assert content_digest(a) != content_digest(CleanedArticle(id="1", text="Some text!", title="T"))
    assert content_digest(a) != content_digest(CleanedArticle(id="1", text="Some text."))


def test_mark_forwarded_after_delivery_keeps_entry_and_verdict() -> None:
    backing: dict[str, bytes] = {}
    state = VerdictState(backing)
    state["a"] = b"\x03entry"
    assert state.mark_forwarded("a", 1.5) is False  # nothing recorded yet: nothing to mark
    verdict = DedupVerdict("duplicate", "near", "b", similarity=0.8, containment=0.9)
    state.record("a", verdict, b"12345678")
    stored = state.stored("a")
    assert stored is not None and stored.forwarded_at is None
    assert state.mark_forwarded("a", 1764672000.123) is True
    assert state.mark_forwarded("a", 2.0) is False  # marked once
    stored = state.stored("a")
    assert stored is not None and stored.forwarded_at == 1764672000.123
    assert stored.verdict == verdict and stored.digest == b"12345678"
    assert state["a"] == b"\x03entry" and list(state) == ["a"]
    assert VerdictState({"old": b"\x02" + bytes(8)}).mark_forwarded("old", 1.0) is False


def test_packed_verdict_is_the_astuple_json_of_every_field() -> None:
    # The stored layout must not change with how it is built: it is in changelogs already.
    from dataclasses import astuple

    import orjson

    from workers.stream.verdicts import Stored, _pack, _unpack

    for verdict in (DedupVerdict("unique"), DedupVerdict("duplicate", "near", "a/1", 0.8, 0.95)):
        for forwarded in (None, 1.7e9 + 0.25):
            packed = _pack(Stored(verdict, b"d" * 8, forwarded), b"\x02entry")
            body = orjson.dumps(astuple(verdict))
            assert packed[3 : 3 + len(body)] == body
            assert _unpack(packed) == (Stored(verdict, b"d" * 8, forwarded), b"\x02entry")
