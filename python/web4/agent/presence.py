"""Presence (LPI) and load (LRI) from real local load, and when to announce them.

Theory of operation: three parts, so the policy is pure and testable.

* ``SystemLoadProbe`` reads the machine: the 1-minute load average divided by the number
  of cores (``os.getloadavg``), memory in use (``1 - MemAvailable/MemTotal`` from
  ``/proc/meminfo``; 0 where that file does not exist), and the fill of the runtime's own
  bounded queues (the agent inbox plus whatever the node registers). It returns a
  ``LoadSample``.
* ``assess(sample, config)`` is a pure function. Each signal is clamped to 0..1;
  LRI = round(100 * (w_cpu*cpu + w_mem*mem + w_queue*queue) / (w_cpu + w_mem + w_queue)).
  Presence: ``overloaded`` when LRI >= ``overloaded_at`` or any queue is at least
  ``queue_overloaded_at`` full; else ``focused`` from ``focused_at``, ``engaged`` from
  ``engaged_at``, otherwise ``diffuse`` (idle, attention open). Kernel signals name what
  is hot: ``cpu_overload``, ``memory_pressure``, ``queue_backlog``.
* ``StatePublisher`` decides when a new assessment is worth a ``STATE_UPDATE``: a change of
  presence or kernel signals, or an LRI move of at least ``min_lri_delta`` (hysteresis),
  and never more often than once per ``min_interval`` seconds (rate limit). It reads only
  the monotonic time it is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from web4.agent.types import Presence, SenderState
from web4.errors import ConfigError

__all__ = [
    "Assessment",
    "LoadSample",
    "PresenceConfig",
    "StatePublisher",
    "SystemLoadProbe",
    "assess",
    "read_meminfo",
]


@dataclass(frozen=True)
class LoadSample:
    """Raw load: ``cpu`` = load average per core (may exceed 1), ``memory`` = fraction in
    use, ``queue`` = the fullest runtime queue's fill (0..1)."""

    cpu: float
    memory: float
    queue: float


@dataclass(frozen=True)
class PresenceConfig:
    """Weights and thresholds; ``validate`` runs on construction."""

    w_cpu: float = 0.4
    w_memory: float = 0.2
    w_queue: float = 0.4
    engaged_at: int = 25
    focused_at: int = 55
    overloaded_at: int = 80
    queue_overloaded_at: float = 0.9
    min_lri_delta: int = 5
    min_interval: float = 1.0

    def __post_init__(self) -> None:
        weights = (self.w_cpu, self.w_memory, self.w_queue)
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError("presence weights must be >= 0 with a positive sum")
        if not 0 < self.engaged_at < self.focused_at < self.overloaded_at <= 100:
            raise ConfigError("need 0 < engaged_at < focused_at < overloaded_at <= 100")
        if not 0 < self.queue_overloaded_at <= 1:
            raise ConfigError("queue_overloaded_at must be in (0, 1]")
        if self.min_lri_delta < 0 or self.min_interval < 0:
            raise ConfigError("min_lri_delta and min_interval must be >= 0")


@dataclass(frozen=True)
class Assessment:
    presence: Presence
    lri: int
    kernel_signals: tuple[str, ...]

    def state_update(self, intent: str | None) -> SenderState:
        return SenderState(self.presence, self.lri, list(self.kernel_signals), intent)


def _unit(x: float) -> float:
    return 0.0 if x != x else min(1.0, max(0.0, x))  # NaN -> 0


def assess(sample: LoadSample, config: PresenceConfig) -> Assessment:
    """Presence and LRI from a load sample (pure; see the module docstring)."""
    cpu, mem, queue = _unit(sample.cpu), _unit(sample.memory), _unit(sample.queue)
    total = config.w_cpu + config.w_memory + config.w_queue
    load = (config.w_cpu * cpu + config.w_memory * mem + config.w_queue * queue) / total
    lri = max(0, min(100, round(100 * load)))
    signals = []
    if cpu >= 1.0:
        signals.append("cpu_overload")
    if mem >= 0.9:
        signals.append("memory_pressure")
    if queue >= config.queue_overloaded_at:
        signals.append("queue_backlog")
    presence: Presence
    if lri >= config.overloaded_at or queue >= config.queue_overloaded_at:
        presence = "overloaded"
    elif lri >= config.focused_at:
        presence = "focused"
    elif lri >= config.engaged_at:
        presence = "engaged"
    else:
        presence = "diffuse"
    return Assessment(presence, lri, tuple(signals))


def read_meminfo(path: Path = Path("/proc/meminfo")) -> float:
    """Fraction of memory in use (0..1); 0.0 when the file is missing or unreadable."""
    try:
        fields = {}
        for line in path.read_text(encoding="ascii").splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[name] = int(parts[0])
        total = fields.get("MemTotal", 0)
        available = fields.get("MemAvailable", fields.get("MemFree", total))
        return 0.0 if total <= 0 else _unit(1.0 - available / total)
    except (OSError, ValueError, UnicodeDecodeError):
        return 0.0


QueueDepth = Callable[[], tuple[int, int]]  # (depth, capacity)


class SystemLoadProbe:
    """Samples CPU, memory and the registered queues' fill."""

    def __init__(self, queues: Sequence[QueueDepth] = ()) -> None:
        self._queues = list(queues)
        self._cores = os.cpu_count() or 1

    def add_queue(self, depth: QueueDepth) -> None:
        """Register a bounded queue: a callable returning (depth, capacity)."""
        self._queues.append(depth)

    def sample(self) -> LoadSample:
        try:
            cpu = os.getloadavg()[0] / self._cores
        except OSError:  # not available on this platform
            cpu = 0.0
        fill = 0.0
        for depth in self._queues:
            used, capacity = depth()
            if capacity > 0:
                fill = max(fill, used / capacity)
        return LoadSample(cpu=cpu, memory=read_meminfo(), queue=fill)


class StatePublisher:
    """Rate limit and hysteresis for ``STATE_UPDATE`` (pure: time is an argument)."""

    def __init__(self, config: PresenceConfig) -> None:
        self._config = config
        self._last: SenderState | None = None
        self._last_at: float | None = None
        self.suppressed = 0

    @property
    def last(self) -> SenderState | None:
        return self._last

    def forget(self) -> None:
        """The last offered update was not delivered: treat the next one as a change
        (still subject to the rate limit)."""
        self._last = None

    def offer(self, update: SenderState, now: float) -> bool:
        """True when ``update`` should be sent now (and it is then remembered as sent)."""
        last = self._last
        changed = (
            last is None
            or update.presence != last.presence
            or update.kernel_signals != last.kernel_signals
            or update.intent != last.intent
            or abs(update.lri - last.lri) >= self._config.min_lri_delta
        )
        if not changed:
            return False
        if self._last_at is not None and now - self._last_at < self._config.min_interval:
            self.suppressed += 1
            return False
        self._last, self._last_at = update, now
        return True
