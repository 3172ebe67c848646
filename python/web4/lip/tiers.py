"""Source trust tiers: a TOML domain policy, moved by corroboration and accuracy.

Theory of operation: ``TierPolicy`` (from TOML, parsed with ``tomllib``) gives every host
a *base* tier: the tier of the most specific ``[domains]`` key equal to the host or a
parent domain of it, else ``default``. ``SourceTiers`` keeps, per host, in the node's
store, an *adjustment* and two counters, and derives the *effective* tier:

- Ladder (low to high): ``low`` < ``unknown`` < ``medium`` < ``high``. ``unknown`` is the
  neutral start; ``low`` means a record of inaccuracy. ``blocked`` is off the ladder.
- ``corroborated``: a claim from the host was confirmed by a trusted peer. After
  ``promote_after`` of them (default 3) the host moves up one step and both counters
  reset; never above ``high``.
- ``rejected``: a claim from the host was rejected by a trusted peer, or a dispute about
  it was resolved against it. After ``demote_after`` (default 2) the host moves down one
  step and both counters reset; never below ``low``.
- ``blocked`` is sticky: a host blocked by the policy or by ``block()`` ignores every
  event and stays blocked (only editing the policy, for a policy block, changes it).

Every event, whether it moved the tier or not, is appended to ``lip_source_audit`` with
its cause, in the same transaction as the counters. Hosts, policy keys included, are
compared in one spelling: ``canonical_host`` (``web4.lip.hosts``), the host as the HTTP
client contacts it, so ``127。0。0。1`` or ``SPAM.example.`` is the host the policy names.
An IP address key matches that address only (no parent domains). Example policy::

    default = "unknown"
    promote_after = 3
    demote_after = 2
    [domains]
    "who.int" = "high"
    "example.org" = "medium"
    "spam.example" = "blocked"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from web4.errors import ConfigError
from web4.lip.hosts import canonical_host, ip_form
from web4.lip.messages import TIERS, Tier
from web4.store import Migration, MigrationSet, Store

__all__ = ["LADDER", "MIGRATIONS", "SourceTiers", "TierAudit", "TierPolicy", "tier_rank"]

LADDER: tuple[Tier, ...] = ("low", "unknown", "medium", "high")
Outcome = Literal["corroborated", "rejected"]


def tier_rank(tier: Tier) -> int:
    """Position on the ladder; ``blocked`` is -1 (below everything)."""
    return -1 if tier == "blocked" else LADDER.index(tier)


def _tier(value: Any, where: str) -> Tier:
    if value not in TIERS:
        raise ConfigError(f"{where}: tier must be one of {list(TIERS)}, got {value!r}")
    return cast(Tier, value)


@dataclass(frozen=True)
class TierPolicy:
    default: Tier = "unknown"
    promote_after: int = 3
    demote_after: int = 2
    domains: dict[str, Tier] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, text: str) -> TierPolicy:
        """Parse a policy. Raises ``ConfigError`` for bad TOML, unknown keys, unknown
        tiers, non-positive thresholds or malformed domain keys."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"tier policy: not TOML: {e}") from e
        unknown = set(doc) - {"default", "promote_after", "demote_after", "domains"}
        if unknown:
            raise ConfigError(f"tier policy: unknown keys {sorted(unknown)}")
        thresholds = {}
        for key in ("promote_after", "demote_after"):
            value = doc.get(key, 3 if key == "promote_after" else 2)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"tier policy: {key} must be an integer >= 1, got {value!r}")
            thresholds[key] = value
        raw = doc.get("domains", {})
        if not isinstance(raw, dict):
            raise ConfigError("tier policy: [domains] must be a table")
        domains: dict[str, Tier] = {}
        for key, value in raw.items():
            host = key.strip().lower().rstrip(".")
            if not host or " " in host or "/" in host or host.startswith("."):
                raise ConfigError(f"tier policy: malformed domain {key!r}")
            host = canonical_host(host)  # the spelling every lookup uses
            if host in domains:
                raise ConfigError(f"tier policy: domain {key!r} is listed twice")
            domains[host] = _tier(value, f"tier policy: domain {key!r}")
        return cls(
            default=_tier(doc.get("default", "unknown"), "tier policy: default"),
            promote_after=thresholds["promote_after"],
            demote_after=thresholds["demote_after"],
            domains=domains,
        )

    @classmethod
    def load(cls, path: str | Path) -> TierPolicy:
        """Read a policy file. Raises ``ConfigError`` (unreadable file or bad policy)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"tier policy {path}: cannot read: {e}") from e
        return cls.from_toml(text)

    def base_tier(self, host: str) -> Tier:
        """The policy's tier for ``host`` (any spelling, see ``canonical_host``): the most
        specific matching domain key; an IP address matches its own key only."""
        h = canonical_host(host)
        if ip_form(h) is not None:
            return self.domains.get(h, self.default)
        labels = h.split(".")
        for i in range(len(labels)):
            tier = self.domains.get(".".join(labels[i:]))
            if tier is not None:
                return tier
        return self.default


@dataclass(frozen=True, slots=True)
class TierAudit:
    host: str
    at: float
    event: str
    before: str
    after: str
    note: str
    cause: str


MIGRATIONS = MigrationSet(
    "lip_sources",
    (
        Migration(
            1,
            "per-host tier adjustment, counters and audit log",
            (
                """CREATE TABLE lip_sources (
                    host TEXT PRIMARY KEY,
                    adjustment INTEGER NOT NULL,
                    corroborated INTEGER NOT NULL,
                    rejected INTEGER NOT NULL,
                    blocked INTEGER NOT NULL,
                    updated_at REAL NOT NULL
                ) STRICT""",
                """CREATE TABLE lip_source_audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    host TEXT NOT NULL,
                    at REAL NOT NULL,
                    event TEXT NOT NULL,
                    before TEXT NOT NULL,
                    after TEXT NOT NULL,
                    note TEXT NOT NULL,
                    cause TEXT NOT NULL
                ) STRICT""",
            ),
        ),
    ),
)


class SourceTiers:
    """Effective tiers of sources, persisted in ``store`` (see the module docstring)."""

    def __init__(self, store: Store, policy: TierPolicy) -> None:
        """Applies the ``lip_sources`` migrations. Raises ``StoreError``."""
        self._store = store
        self.policy = policy
        store.migrate(MIGRATIONS)

    def _row(self, host: str) -> tuple[int, int, int, bool]:
        row = self._store.query_one(
            "SELECT adjustment, corroborated, rejected, blocked FROM lip_sources WHERE host = ?",
            (host,),
        )
        if row is None:
            return 0, 0, 0, False
        return int(row[0]), int(row[1]), int(row[2]), bool(row[3])

    def _effective(self, host: str, adjustment: int, blocked: bool) -> Tier:
        base = self.policy.base_tier(host)
        if blocked or base == "blocked":
            return "blocked"
        rank = min(max(tier_rank(base) + adjustment, 0), len(LADDER) - 1)
        return LADDER[rank]

    def tier_of(self, host: str) -> Tier:
        """The effective tier of ``host`` now. Raises ``StoreError``."""
        h = canonical_host(host)
        adjustment, _, _, blocked = self._row(h)
        return self._effective(h, adjustment, blocked)

    def record(self, host: str, outcome: Outcome, *, now: float, cause: str) -> Tier:
        """Count one outcome for ``host`` and apply the promotion/demotion rule; audited.
        Returns the effective tier after it. Raises ``StoreError``."""
        h = canonical_host(host)
        with self._store.transaction():
            adjustment, good, bad, blocked = self._row(h)
            before = self._effective(h, adjustment, blocked)
            rank = tier_rank(before)
            note = f"{outcome} counted"
            if before == "blocked":
                note = "blocked is sticky: nothing changes"
            elif outcome == "corroborated":
                good += 1
                if good >= self.policy.promote_after:
                    good = bad = 0
                    rank = min(rank + 1, len(LADDER) - 1)
                    note = f"{self.policy.promote_after} corroborated claims: up one tier"
            else:
                bad += 1
                if bad >= self.policy.demote_after:
                    good = bad = 0
                    rank = max(rank - 1, 0)
                    note = f"{self.policy.demote_after} rejected claims: down one tier"
            if before != "blocked":
                # the adjustment always lands on the ladder: it never has to be paid back
                adjustment = rank - tier_rank(self.policy.base_tier(h))
            after = self._effective(h, adjustment, blocked)
            if after == before and note.endswith("tier"):
                note += f" (already at {before})"
            self._save(h, adjustment, good, bad, blocked, now)
            self._audit(h, now, outcome, before, after, note, cause)
        return after

    def block(self, host: str, *, now: float, cause: str) -> None:
        """Block ``host`` for good (sticky); audited. Raises ``StoreError``."""
        h = canonical_host(host)
        with self._store.transaction():
            adjustment, good, bad, blocked = self._row(h)
            before = self._effective(h, adjustment, blocked)
            self._save(h, adjustment, good, bad, True, now)
            self._audit(h, now, "block", before, "blocked", "blocked by the operator", cause)

    def audit(self, host: str) -> list[TierAudit]:
        """Every event recorded for ``host``, oldest first. Raises ``StoreError``."""
        rows = self._store.query(
            "SELECT host, at, event, before, after, note, cause FROM lip_source_audit "
            "WHERE host = ? ORDER BY id",
            (canonical_host(host),),
        )
        return [TierAudit(r[0], float(r[1]), *r[2:]) for r in rows]

    def _save(self, h: str, adj: int, good: int, bad: int, blocked: bool, now: float) -> None:
        self._store.execute(
            "INSERT INTO lip_sources VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(host) DO UPDATE SET "
            "adjustment = excluded.adjustment, corroborated = excluded.corroborated, "
            "rejected = excluded.rejected, blocked = excluded.blocked, "
            "updated_at = excluded.updated_at",
            (h, adj, good, bad, int(blocked), now),
        )

    def _audit(
        self, h: str, now: float, event: str, before: str, after: str, note: str, cause: str
    ) -> None:
        self._store.execute(
            "INSERT INTO lip_source_audit (host, at, event, before, after, note, cause) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (h, now, event, before, after, note, cause),
        )
