"""``python -m vmlab``: the vmlab command line (see vmlab/cli.py)."""

from .cli import main

raise SystemExit(main())
