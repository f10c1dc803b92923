"""A mapping over a Faust table whose writes wait for the agent's event context.

Faust writes a table entry to the changelog partition of the event being processed, and refuses
a write made outside an agent's event (the cleaning stage runs HTML articles in an executor
thread). :class:`BufferedTable` reads through to the table (pending writes first) and keeps
writes until :meth:`flush`, which the agent calls after the stage returns, in its event.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

_DELETED = object()


class BufferedTable(MutableMapping[str, bytes]):
    """Read-through, write-back view of ``table`` (a Faust table or, in tests, a dict)."""

    def __init__(self, table: MutableMapping[str, bytes]) -> None:
        self.table = table
        self._pending: dict[str, object] = {}

    def __getitem__(self, key: str) -> bytes:
        value = self._pending.get(key)
        if value is _DELETED:
            raise KeyError(key)
        if value is not None:
            return value  # type: ignore[return-value]
        return self.table[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = {k for k, v in self._pending.items() if v is not _DELETED}
        yield from seen
        for key in self.table:
            if key not in self._pending:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def flush(self) -> int:
        """Write the pending changes into the table; returns how many there were."""
        pending, self._pending = self._pending, {}
        for key, value in pending.items():
            if value is _DELETED:
                self.table.pop(key, None)
            else:
                self.table[key] = value  # type: ignore[assignment]
        return len(pending)
