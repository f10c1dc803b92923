"""Clusters as the transitive closure of links: one union-find for every evaluation and test.

Dedup's ``duplicate_of`` links, the integration tests' accounting and the story evaluation all
turn pairwise links into groups through :class:`UnionFind`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """Disjoint sets with path halving; members are added on first mention."""

    def __init__(self, members: Iterable[T] = ()) -> None:
        self._parent: dict[T, T] = {}
        for m in members:
            self.add(m)

    def add(self, member: T) -> None:
        self._parent.setdefault(member, member)

    def __contains__(self, member: object) -> bool:
        return member in self._parent

    def find(self, member: T) -> T:
        parent = self._parent
        self.add(member)
        while parent[member] != member:
            parent[member] = parent[parent[member]]
            member = parent[member]
        return member

    def union(self, a: T, b: T) -> None:
        """Join the sets of ``a`` and ``b``; ``b``'s root becomes the root of both."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[ra] = rb

    def roots(self) -> dict[T, T]:
        """Every member -> the root of its set."""
        return {m: self.find(m) for m in list(self._parent)}

    def groups(self, min_size: int = 1) -> list[set[T]]:
        """The sets with at least ``min_size`` members."""
        by_root: dict[T, set[T]] = {}
        for member, root in self.roots().items():
            by_root.setdefault(root, set()).add(member)
        return [g for g in by_root.values() if len(g) >= min_size]
