"""Print generated contract artefacts: the JSON Schema (default) or the kinds table.

Usage: ``python -m web4.observability [schema|kinds]``; ``make`` and the tests use it to
keep ``docs/schemas/events.schema.json`` and ``docs/EVENTS.md`` in step with the code.
"""

from __future__ import annotations

import sys

from web4.observability.events import event_schema_text, kinds_markdown


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "schema"
    if what == "schema":
        sys.stdout.write(event_schema_text())
        return 0
    if what == "kinds":
        sys.stdout.write(kinds_markdown())
        return 0
    sys.stderr.write("usage: python -m web4.observability [schema|kinds]\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
