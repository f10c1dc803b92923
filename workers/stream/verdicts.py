"""Dedup verdicts stored with the dedup state, so that a replayed article gets its first verdict.

The worker runs at-least-once (docs/reliability.md): after a crash, a rebalance or a broker
outage, messages of ``articles.cleaned`` after the last committed offset reach dedup again,
although their state entries may already have been written. Dedup's own rule for an id it has
seen ("redelivery") would then send such an article to the duplicates topic and it would never
be enriched. Instead, :class:`VerdictState` keeps each entry's verdict and a digest of the
article's content next to the entry, written in the same table write (one changelog record), and
the dedup handler re-emits that verdict when the same content comes again under the same id.

Once the article's outputs for that verdict are on the broker, the dedup agent marks the entry
*forwarded* (:meth:`VerdictState.mark_forwarded`, a second table write) with the raw record's
timestamp (the article's ``ingested_at``). A crash replay re-reads the same raw record, so it
carries the same timestamp: if it finds the mark, it sends nothing again (its outputs went out
before; sending them again would only be a repeat downstream). A producer that sends the article
again makes a new raw record with its own timestamp, and that message comes out again, as it
always did. The mark is written only after delivery, so if it is lost in a crash the replay
sends again (a repeat, never a loss).

The wrapped value is ``0xA7 | u16 length | verdict JSON | 8-byte digest | dedup entry`` (verdict
recorded) or ``0xA8 | u16 length | verdict JSON | 8-byte digest | f64 ingested_at | dedup
entry`` (verdict recorded, outputs delivered); dedup's own entries start with 2 or 3, so entries
written before verdicts were kept still read (as entries without a verdict).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

import orjson

from workers.records import CleanedArticle, DedupVerdict, field_values

_MAGIC = 0xA7
_FORWARDED = 0xA8
_STAMP = struct.Struct("<d")
_HEAD = struct.Struct("<BH")
DIGEST_BYTES = 8


def content_digest(article: CleanedArticle) -> bytes:
    """A digest of what dedup decided on: the cleaned title and text."""
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    digest.update((article.title or "").encode())
    digest.update(b"\0")
    digest.update(article.text.encode())
    return digest.digest()


@dataclass(frozen=True, slots=True)
class Stored:
    """The verdict an id was given first, and the digest of the content it was given for."""

    verdict: DedupVerdict
    digest: bytes
    # The raw record's timestamp of the message whose outputs are known to be on the broker.
    forwarded_at: float | None = None


_verdict_values = field_values(DedupVerdict)  # as ``astuple`` gives them, without its copy


def _pack(stored: Stored, entry: bytes) -> bytes:
    verdict = orjson.dumps(_verdict_values(stored.verdict))
    if stored.forwarded_at is None:
        return _HEAD.pack(_MAGIC, len(verdict)) + verdict + stored.digest + entry
    return (_HEAD.pack(_FORWARDED, len(verdict)) + verdict + stored.digest
            + _STAMP.pack(stored.forwarded_at) + entry)


def _unpack(value: bytes) -> tuple[Stored | None, bytes]:
    if not value or value[0] not in (_MAGIC, _FORWARDED):
        return None, value
    _, size = _HEAD.unpack_from(value)
    start = _HEAD.size + size
    verdict = DedupVerdict(*orjson.loads(value[_HEAD.size : start]))
    digest = value[start : start + DIGEST_BYTES]
    rest = start + DIGEST_BYTES
    if value[0] == _FORWARDED:
        (forwarded_at,) = _STAMP.unpack_from(value, rest)
        return Stored(verdict, digest, forwarded_at), value[rest + _STAMP.size :]
    return Stored(verdict, digest), value[rest:]


class VerdictState(MutableMapping[str, bytes]):
    """The dedup state mapping seen by the ``Deduplicator``, backed by the Faust table.

    The deduplicator's writes are held back until :meth:`record` adds the verdict, so that an
    entry and its verdict reach the table (and its changelog) together; :meth:`discard` drops a
    held write when the decision failed.
    """

    def __init__(self, backing: MutableMapping[str, bytes]) -> None:
        self.backing = backing
        self._pending: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> bytes:
        if key in self._pending:
            return self._pending[key]
        return _unpack(self.backing[key])[1]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: str) -> None:
        held = self._pending.pop(key, None)
        if key in self.backing:
            del self.backing[key]
        elif held is None:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._pending or key in self.backing

    def __iter__(self) -> Iterator[str]:
        yield from self.backing
        yield from (key for key in self._pending if key not in self.backing)

    def __len__(self) -> int:
        return len(self.backing) + sum(1 for key in self._pending if key not in self.backing)

    def stored(self, key: str) -> Stored | None:
        """The verdict ``key`` was first given, if the state holds one."""
        value = self.backing.get(key)
        return _unpack(value)[0] if value is not None else None

    def record(self, key: str, verdict: DedupVerdict, digest: bytes) -> None:
        """Write the held entry of ``key`` together with its verdict (nothing held: no-op)."""
        entry = self._pending.pop(key, None)
        if entry is not None:
            self.backing[key] = _pack(Stored(verdict, digest), entry)

    def mark_forwarded(self, key: str, ingested_at: float) -> bool:
        """Mark ``key``'s stored verdict as delivered downstream for the raw record stamped
        ``ingested_at``; call only once the outputs are on the broker. True if marked now."""
        value = self.backing.get(key)
        stored, entry = _unpack(value) if value is not None else (None, b"")
        if stored is None or stored.forwarded_at is not None:
            return False
        self.backing[key] = _pack(Stored(stored.verdict, stored.digest, ingested_at), entry)
        return True

    def discard(self) -> None:
        """Forget held writes (the decision that made them failed)."""
        self._pending.clear()
