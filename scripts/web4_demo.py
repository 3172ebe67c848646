#!/usr/bin/env python3
"""The two-agent demo (thin wrapper: it runs the same code as `web4 demo`)."""

import sys

from web4.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
