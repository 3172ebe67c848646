"""``web4 human-key add|list|remove``: which human keys may steer an agent (HCP).

Theory of operation: the operator's side of ``authorized_humans`` (``web4.hcp.authorized``,
``docs/HCP_SPEC.md`` §9.1), like ``authorized_keys`` for SSH. Each subcommand checks that
``--data-dir`` holds an identity (a typo must not create a stray file), then edits or
prints ``DATA_DIR/authorized_humans``. A running node picks the change up with the next
HCP message; no restart. Errors are ``ConfigError``/``IdentityError``: one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from web4.cli import args as cli_args
from web4.hcp.authorized import (
    add_authorized,
    authorized_path,
    read_authorized,
    remove_authorized,
)

__all__ = ["add_parser"]

_WHERE = "the human prints it with `web4 human --data-dir DIR --print-key`"


def _data_dir(path: str | None) -> Path:
    """``--data-dir`` (or ``$WEB4_DATA_DIR``, or the config file's), holding an identity."""
    return cli_args.resolve_data_dir(path)[0]


def _add(args: argparse.Namespace) -> int:
    path = authorized_path(_data_dir(args.data_dir))
    entry = add_authorized(path, args.fingerprint, args.name or "")
    named = f" ({entry.name})" if entry.name else ""
    print(f"authorised {entry.fingerprint}{named} in {path}")
    print("a running node takes it from the human's next HCP message")
    return 0


def _list(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args.data_dir)
    path = authorized_path(data_dir)
    entries = read_authorized(path)
    if not entries:
        print(f"no authorised humans in {path}")
        print(f"add one: web4 human-key add FINGERPRINT --name NAME --data-dir {data_dir}")
        return 0
    for e in entries:
        print(f"{e.fingerprint}  {e.name}".rstrip())
    return 0


def _remove(args: argparse.Namespace) -> int:
    path = authorized_path(_data_dir(args.data_dir))
    entry = remove_authorized(path, args.fingerprint)
    named = f" ({entry.name})" if entry.name else ""
    print(f"removed {entry.fingerprint}{named} from {path}")
    print("a running node refuses that key from its next HCP message")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "human-key",
        help="authorise the human keys that may steer an agent (HCP): add, list, remove",
        description="Manage DATA_DIR/authorized_humans (mode 0600): the fingerprints of the "
        "human keys whose HCP sessions the agent acts on. Any other key is refused "
        "(not_authorized). A running node re-reads the file when it changes.",
        epilog="Example: web4 human-key add 3f9a...e1 --name Dana --data-dir ~/.web4/alice "
        f"(the fingerprint: {_WHERE})",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    add = actions.add_parser(
        "add",
        help="authorise a human key",
        description="Append FINGERPRINT (and an optional name) to DATA_DIR/authorized_humans, "
        "creating it with mode 0600. Refuses a key already listed.",
        epilog=f"Example: web4 human-key add 3f9a...e1 --name Dana --data-dir ~/.web4/alice "
        f"({_WHERE})",
    )
    add.add_argument(
        "fingerprint",
        type=cli_args.fingerprint,
        metavar="FINGERPRINT",
        help="the human's key (64 hex digits)",
    )
    add.add_argument("--name", help="who it is (a note for you; shown by list)")
    cli_args.add_data_dir(add, "the agent node's data directory")
    add.set_defaults(func=_add)

    ls = actions.add_parser(
        "list",
        help="list the authorised human keys",
        description="Print each authorised fingerprint and its name, one a line.",
        epilog="Example: web4 human-key list --data-dir ~/.web4/alice",
    )
    cli_args.add_data_dir(ls, "the agent node's data directory")
    ls.set_defaults(func=_list)

    rm = actions.add_parser(
        "remove",
        help="withdraw a human key's authorisation",
        description="Remove FINGERPRINT from DATA_DIR/authorized_humans. A running node "
        "refuses the key from its next HCP message.",
        epilog="Example: web4 human-key remove 3f9a...e1 --data-dir ~/.web4/alice",
    )
    rm.add_argument(
        "fingerprint",
        type=cli_args.fingerprint,
        metavar="FINGERPRINT",
        help="the human's key (64 hex digits)",
    )
    cli_args.add_data_dir(rm, "the agent node's data directory")
    rm.set_defaults(func=_remove)
