"""``python -m web4`` runs the CLI."""

import sys

from web4.cli.main import main

sys.exit(main())
