"""``web4 completion bash|zsh|tcsh``: a shell completion script for every subcommand.

Theory of operation: the script is generated from the same argparse parser ``web4``
parses with (``shtab``), so it always knows every subcommand, flag and choice; paths
(``--data-dir``, ``--config``, ``--events``, files) complete as directories or files.
Install it once, e.g. ``web4 completion bash > ~/.local/share/bash-completion/completions/web4``
or ``web4 completion zsh > "${fpath[1]}/_web4"``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["SHELLS", "add_parser"]

SHELLS = ("bash", "zsh", "tcsh")
_DIRS = {"--data-dir"}
_FILES = {"--config", "--events", "--lip-tiers", "file"}


def _mark_paths(parser: argparse.ArgumentParser, shtab: Any) -> None:
    """Tell shtab which arguments are directories or files, in every subparser."""
    for action in parser._actions:  # argparse keeps them here and nowhere public
        names = {*action.option_strings, action.dest}
        if names & _DIRS:
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        elif names & _FILES:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_paths(sub, shtab)


def add_parser(sub: Any, root: Callable[[], argparse.ArgumentParser]) -> None:
    """Add ``completion``; ``root`` builds the ``web4`` parser to generate from."""
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or tcsh)",
        description="Print a completion script for SHELL on stdout, generated from web4's "
        "own parser (every subcommand and flag).",
        epilog="Example: web4 completion bash > ~/.local/share/bash-completion/completions/web4"
        '  (zsh: web4 completion zsh > "${fpath[1]}/_web4")',
    )
    p.add_argument("shell", choices=SHELLS, help="the shell: bash, zsh or tcsh")

    def run(args: argparse.Namespace) -> int:
        import shtab  # only this command needs it

        parser = root()
        _mark_paths(parser, shtab)
        print(shtab.complete(parser, shell=args.shell), end="")
        return 0

    p.set_defaults(func=run)
