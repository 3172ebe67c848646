"""Pluggable, per-subsystem schema migrations.

Theory of operation: every subsystem that keeps durable state (trust, knowledge, the LIP
deferred-acceptance queue, ...) declares its own tables as a ``MigrationSet``: a subsystem
name and an ordered list of ``Migration``s numbered 1, 2, 3, ... without gaps. The store
records, per subsystem, the highest version applied in the ``schema_migrations`` table and
applies the missing ones in order, each in its own transaction. Migrations are append-only:
a released migration is never edited, a change is a new migration. A database whose
recorded version for a subsystem is newer than the code knows is refused, so old software
never writes into a schema it does not understand.

Table names should start with the subsystem name (``trust_peers``, ``knowledge_claims``)
so that subsystems cannot collide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from web4.errors import StoreError

__all__ = ["Migration", "MigrationSet"]

_SUBSYSTEM = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version (1-based), a description and its SQL statements."""

    version: int
    description: str
    statements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """All migrations of one subsystem, in version order.

    Raises ``StoreError`` when the subsystem name is malformed, the list is empty, or the
    versions are not exactly 1..n in order.
    """

    subsystem: str
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        if not _SUBSYSTEM.match(self.subsystem):
            raise StoreError(f"malformed subsystem name {self.subsystem!r}")
        if not self.migrations:
            raise StoreError(f"subsystem {self.subsystem!r} declares no migrations")
        for expected, migration in enumerate(self.migrations, start=1):
            if migration.version != expected:
                raise StoreError(
                    f"subsystem {self.subsystem!r}: migration versions must be 1..n in "
                    f"order; found {migration.version} where {expected} was expected"
                )
            if not migration.statements:
                raise StoreError(
                    f"subsystem {self.subsystem!r}: migration {expected} has no statements"
                )

    @property
    def latest(self) -> int:
        """The highest version this code knows."""
        return len(self.migrations)

    def pending(self, applied: int) -> Sequence[Migration]:
        """The migrations after version ``applied``.

        Raises ``StoreError`` when ``applied`` is newer than this code knows.
        """
        if applied > self.latest:
            raise StoreError(
                f"the database has {self.subsystem!r} schema version {applied}, newer than "
                f"the {self.latest} this software knows; refusing to use it"
            )
        return self.migrations[applied:]
