"""CDP sources: who may send events, identified by a write key (Segment "Connections")."""

from __future__ import annotations

import msgspec


class Source(msgspec.Struct, frozen=True):
    name: str
    write_key: str


class SourceRegistry:
    """Write key → source. A write key belongs to exactly one source."""

    def __init__(self, sources: list[Source] | None = None) -> None:
        self._by_key: dict[str, Source] = {}
        self._by_name: dict[str, Source] = {}
        for source in sources or []:
            self.add(source)

    def add(self, source: Source) -> Source:
        if not source.write_key:
            raise ValueError(f"source {source.name!r} needs a non-empty write key")
        if source.write_key in self._by_key:
            raise ValueError(
                f"write key of source {source.name!r} is already used by another source"
            )
        if source.name in self._by_name:
            raise ValueError(f"a source named {source.name!r} already exists")
        self._by_key[source.write_key] = source
        self._by_name[source.name] = source
        return source

    def by_write_key(self, write_key: str) -> Source | None:
        return self._by_key.get(write_key)

    def by_name(self, name: str) -> Source | None:
        return self._by_name.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())
