"""vmlab's speed benchmark: guest MIPS, against pure Python and against native Numba, in one run.

Run it with ``vmlab bench`` (or ``python bench/run.py``); ``--json`` for machine-readable output,
``--quick`` for small sizes. From Python:

>>> from vmlab.bench import run_benchmark, format_report, Settings
>>> report = run_benchmark(Settings.quick())  # doctest: +SKIP
>>> print(format_report(report))  # doctest: +SKIP
"""

from .runner import TARGETS, BenchError, Settings, format_report, main, run_benchmark

__all__ = ["TARGETS", "BenchError", "Settings", "format_report", "main", "run_benchmark"]
