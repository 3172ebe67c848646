"""Finding an agent by name: ``web4 node --agent SPEC`` and ``web4 agents``.

Theory of operation: ``SPEC`` is one of

* ``name`` (no colon): an installed agent, the entry point ``name`` of the group
  ``web4.agents`` (``[project.entry-points."web4.agents"]`` in a package's
  pyproject), or one built in (``belief``);
* ``module:factory``: imported from ``sys.path``, then from the current directory (the
  operator's own file, as in ``docs/AGENTS.md``);
* ``path/to/file.py:factory`` or ``path/to/package_dir:factory`` (the part before the
  colon names an existing file or directory): its parent directory goes first on
  ``sys.path`` and the file or package is imported by its name.

``load_agent`` calls the factory with the ``AgentOptions`` (or with nothing, if it takes
no argument) and checks that what it returned has a non-empty ``mission``. Every failure
is one ``ConfigError`` line naming the spec: a wrong spec never starts a node. Loading an
agent runs its code: it is the operator's choice, as with any program they run.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web4.agent.api import AgentLike, AgentOptions
from web4.errors import ConfigError

__all__ = ["BUILTIN", "GROUP", "AgentEntry", "available", "load_agent", "resolve"]

GROUP = "web4.agents"
BUILTIN: dict[str, str] = {"belief": "web4.node.believer:make"}


@dataclass(frozen=True)
class AgentEntry:
    """An agent ``web4 agents`` lists: its name, its ``module:factory``, where from."""

    name: str
    target: str
    origin: str  # "built in" or the distribution that installed it


def available() -> list[AgentEntry]:
    """Built-in and installed agents, by name (an installed one may shadow a built-in)."""
    found = {n: AgentEntry(n, t, "built in") for n, t in BUILTIN.items()}
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in found and found[ep.name].target == ep.value:
            continue  # this package's own entry point for a built-in
        found[ep.name] = AgentEntry(ep.name, ep.value, dist)
    return sorted(found.values(), key=lambda e: e.name)


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module.split(".")[0]:
            raise ConfigError(f"--agent {spec}: importing {module} failed: {e}") from None
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.append(cwd)  # after everything else: never shadows an installed module
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module.split(".")[0]:
                raise ConfigError(f"--agent {spec}: importing {module} failed: {e}") from None
    raise ConfigError(
        f"--agent {spec}: no module {module!r} (on the Python path or in {cwd}); "
        "give module:factory, path/to/file.py:factory or an installed agent's name "
        "(web4 agents lists them)"
    )


def resolve(spec: str) -> Any:
    """The factory ``spec`` names. Raises ``ConfigError``."""
    spec = spec.strip()
    if not spec:
        raise ConfigError("--agent needs module:factory, a path:factory or a name")
    if ":" not in spec:
        for ep in importlib.metadata.entry_points(group=GROUP, name=spec):
            try:
                return ep.load()
            except Exception as e:
                raise ConfigError(f"--agent {spec}: loading {ep.value} failed: {e}") from e
        if spec in BUILTIN:
            return resolve(BUILTIN[spec])
        names = ", ".join(e.name for e in available())
        raise ConfigError(
            f"--agent {spec}: no installed agent of that name (installed: {names}); "
            "for your own file give module:factory"
        )
    where, _, attr = spec.rpartition(":")
    if not where or not attr.isidentifier():
        raise ConfigError(f"--agent {spec}: expected module:factory (e.g. myagent:make)")
    path = Path(where).expanduser()
    if "/" in where or where.endswith(".py") or path.exists():
        if not path.exists():
            raise ConfigError(f"--agent {spec}: {path} does not exist")
        name = path.stem if path.is_file() else path.name
        if not name.isidentifier():
            raise ConfigError(f"--agent {spec}: {name!r} is not an importable module name")
        parent = str(path.resolve().parent)
        if parent not in sys.path:
            sys.path.insert(0, parent)
        module = _import(name, spec)
    else:
        module = _import(where, spec)
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ConfigError(f"--agent {spec}: {module.__name__} has no callable {attr!r}")
    return factory


def load_agent(spec: str, options: AgentOptions) -> AgentLike:
    """Make the agent ``spec`` names (see the module docstring). Raises ``ConfigError``
    (bad spec, a factory that raised, something without a mission)."""
    factory = resolve(spec)
    try:
        takes = len(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        takes = 1
    try:
        agent = factory(options) if takes else factory()
    except ConfigError as e:
        raise ConfigError(f"--agent {spec}: {e}") from None
    except Exception as e:
        raise ConfigError(f"--agent {spec}: the factory raised {type(e).__name__}: {e}") from e
    mission = getattr(agent, "mission", None)
    if not isinstance(mission, str) or not mission.strip():
        raise ConfigError(f"--agent {spec}: the agent it made has no mission (a non-empty str)")
    return agent  # type: ignore[no-any-return]
