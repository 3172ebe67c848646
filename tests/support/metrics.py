"""Reading the node's Prometheus counters in tests (``Observability.metrics``)."""

from __future__ import annotations

from typing import Any

from web4.observability import Observability


def counter(obs: Observability, name: str, *labels: str) -> dict[Any, float]:
    """Counter ``name``'s values (its ``<name>_total`` samples), keyed by the value of
    the one label named (``""`` where a sample has not got it), or by the tuple of the
    values of several."""
    out: dict[Any, float] = {}
    for metric in obs.metrics.registry.collect():
        if metric.name != name:
            continue
        for s in metric.samples:
            if s.name == f"{name}_total":
                key = tuple(s.labels.get(label, "") for label in labels)
                out[key[0] if len(key) == 1 else key] = s.value
    return out
