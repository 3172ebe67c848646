#!/usr/bin/env python3
"""The mesh demo (thin wrapper: it runs the same code as `web4 mesh-demo`)."""

import sys

from web4.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["mesh-demo", *sys.argv[1:]]))
