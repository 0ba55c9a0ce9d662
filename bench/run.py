"""Run vmlab's benchmark from a checkout: ``python bench/run.py [--json] [--quick]``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's vmlab first

from vmlab.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
