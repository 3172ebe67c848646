"""``web4``: the command-line entry point.

Theory of operation: each subcommand is a small function that parses its flags, calls
the library, and prints. A user's mistake (a ``LocalError``, a missing file, a bad
flag) prints one line on stderr and exits non-zero; it never shows a traceback. A reader
that goes away (``web4 ... | head``) ends the command quietly.

Exit codes, the same for every subcommand: 0 success, 1 runtime error (a ``Web4Error``,
an ``OSError`` such as an unreadable file, or an unexpected exception, shown as one line;
``WEB4_TRACEBACK=1`` shows the traceback), 2 usage error (``web4 CMD: error: ...``, from
argparse and the flag types in ``web4.cli.args``), 130 on Ctrl-C. ``main`` is the one
place that turns an exception into that line and code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from web4 import __version__
from web4.cli import args as cli_args
from web4.cli import completion as completion_cmd
from web4.cli import conformance_cmd, node_cmd
from web4.cli import demo as demo_cmd
from web4.cli import human as human_cmd
from web4.cli import human_key as human_key_cmd
from web4.cli import info as info_cmd
from web4.cli import mesh_demo as mesh_cmd
from web4.errors import Web4Error
from web4.identity import KEY_FILE_NAME, Identity
from web4.node.config import data_dir_of

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def _cmd_keygen(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args.data_dir)  # the flag, $WEB4_DATA_DIR or the config file's
    if data_dir is None:
        raise cli_args.UsageError("give --data-dir DIR (or set WEB4_DATA_DIR)")
    identity = Identity.create_in_data_dir(data_dir, args.agent_id)
    print(f"created {data_dir / KEY_FILE_NAME} (mode 0600)")
    _print_identity(identity)
    return EXIT_OK


def _print_identity(identity: Identity) -> None:
    print(*info_cmd.identity_lines(identity), sep="\n")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported on one line (``web4 CMD: error: ...``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="web4",
        description="Web4 Runtime: secure peer-to-peer runtime for local cognitive agents.",
        epilog="Example: web4 keygen --data-dir ~/.web4/alice && web4 id --data-dir ~/.web4/alice",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"web4 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    keygen = sub.add_parser(
        "keygen",
        help="create an agent identity (Ed25519 key pair) in a data directory",
        description="Create DATA_DIR (mode 0700) and a new Ed25519 identity in "
        f"DATA_DIR/{KEY_FILE_NAME} (mode 0600). Refuses to overwrite an existing one.",
        epilog="Example: web4 keygen --data-dir ~/.web4/alice --agent-id alice",
    )
    cli_args.add_data_dir(keygen, "the node's data directory")
    keygen.add_argument(
        "--agent-id", default=None, help="name of the agent (default: from the fingerprint)"
    )
    keygen.set_defaults(func=_cmd_keygen)

    info_cmd.add_id_parser(sub)
    info_cmd.add_status_parser(sub)

    node_cmd.add_parsers(sub)
    demo_cmd.add_parser(sub)
    mesh_cmd.add_parser(sub)
    human_cmd.add_parser(sub)
    human_key_cmd.add_parser(sub)
    conformance_cmd.add_parser(sub)
    completion_cmd.add_parser(sub, build_parser)
    return parser


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the subcommand ``args`` chose: its usage errors name it."""
    for action in parser._actions:  # argparse keeps subparsers here and nowhere public
        if isinstance(action, argparse._SubParsersAction) and action.dest:
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return _chosen(action.choices[name], args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would blame `web4`; the mistake is in the subcommand's flags
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    name = _chosen(parser, args).prog  # e.g. `web4 human-key add`, as in usage errors
    try:
        code: int = args.func(args)
    except cli_args.UsageError as e:  # flags that are wrong together: as argparse's own
        _chosen(parser, args).error(str(e))
    except Web4Error as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `web4 ... | head`: the reader left; end quietly
        with contextlib.suppress(OSError):  # and let no flush at exit raise again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as e:  # the environment: an unreadable file, a full disk, a busy port
        where = f"{e.filename}: " if e.filename else ""
        print(f"{name}: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # a bug: still one line, and WEB4_TRACEBACK=1 shows where
        if os.environ.get("WEB4_TRACEBACK"):
            raise
        print(
            f"{name}: internal error: {type(e).__name__}: {e} (rerun with WEB4_TRACEBACK=1 "
            "for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
