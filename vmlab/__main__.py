"""``python -m vmlab`` and the ``vmlab`` console script: the vmlab command line (see vmlab/cli.py)."""

import sys


def entry() -> int:
    """Run the ``vmlab`` command; Ctrl-C while its modules are still loading exits quietly too."""
    try:
        from .cli import main

        return main()
    except KeyboardInterrupt:
        exec("pass", {})  # see vmlab.cli._forget_unhandled_interrupt (not imported yet, maybe)
        if sys.stderr is not None:
            print("vmlab: interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    raise SystemExit(entry())
