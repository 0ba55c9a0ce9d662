"""The benchmark: guest MIPS and whole-program speed, side by side with pure Python and native Numba.

Everything is measured in ONE run, so the ratios compare like with like on a noisy machine:

- each workload (an image from ``images/`` at fixed sizes) runs to completion on the jitted core;
  guest MIPS = instructions / wall time of ``Machine.run``;
- the first instructions of the same image run in a subprocess with ``NUMBA_DISABLE_JIT=1`` (the
  pure-Python reference mode of the same core) and, timed by the same code, on the jitted core:
  "x faster than pure Python";
- the same algorithm at the same size runs natively in Numba (:mod:`vmlab.bench.natives`): native
  whole-program time against emulated whole-program time gives "x slower than native";
- a subprocess with an empty ``VMLAB_CACHE_DIR`` times ``import vmlab`` + the first run of
  ``hello`` (cold JIT compile); a subprocess with the warm cache times the same whole command.

Every timing is the best of a few repetitions, after a warm-up run; an emulated run and its
native twin are timed in turns, so both see the same background load. Every emulated run must end
with exit code 0, and the guest's printed answer must equal the native one, or the benchmark
stops with :class:`BenchError` (a fast wrong answer is not a result).

The speed of the compiled core also differs by 30-40 % from PROCESS to process (and from minute
to minute), while runs within one process agree well. So the whole runs and their
native twins are measured in several fresh processes (:func:`in_fresh_processes`), each doing the
above, and a figure is the median across processes, reported with its min and max
(:func:`spread`); targets are judged on the median. The warm start is the median of its runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
from numba.core import config

import vmlab

from .. import images
from ..image import Image
from ..machine import Machine
from . import natives

__all__ = [
    "TARGETS",
    "BenchError",
    "Settings",
    "add_arguments",
    "format_report",
    "format_spread",
    "in_fresh_processes",
    "main",
    "measure_workloads",
    "reference_run",
    "run_benchmark",
    "run_from_args",
    "spread",
]

MEMORY = "4M"  # RAM of every benchmark machine (sieve N=10^6 needs about 1 MiB of flags)

# The speed goals (DESIGN.md "Speed"); the benchmark prints each figure beside its target.
TARGETS: dict[str, float] = {
    "speedup_vs_python_min": 100.0,  # the JIT core is at least this much faster than pure Python
    "sieve_vs_native_max": 20.0,  # sieve (paging off) within this factor of native Numba
    "sieve_paging_vs_native_max": 30.0,  # sieve with paging on
    "warm_start_max_seconds": 1.0,  # python -c "import vmlab; run hello" with a warm cache
}
_NATIVE_TARGET = {"sieve": "sieve_vs_native_max", "sieve_paging": "sieve_paging_vs_native_max"}

# The smaller minikernel used by --quick (same processes, each doing less work).
_QUICK_MINIKERNEL = {
    "PRIMES_N": 4000,
    "PRIMES_EVERY": 100,
    "COLLATZ_N": 600,
    "COLLATZ_CHUNK": 100,
    "TICKER_N": 2,
    "TICKER_SLEEP": 60,
    "PING_N": 300,
    "PING_EVERY": 100,
}

_PACKAGE_ROOT = Path(vmlab.__file__).resolve().parent.parent

# A child process that imports vmlab and runs ``hello`` once; prints the seconds that took.
_START_CHILD = """\
import time
t0 = time.perf_counter()
import vmlab
from vmlab import Machine, images
m = Machine()
m.load(images.load("hello"))
r = m.run()
t1 = time.perf_counter()
if r.exit_code != 0:
    raise SystemExit(f"hello ended with {r}")
print(t1 - t0)
"""

# A child process (with NUMBA_DISABLE_JIT=1) that times the pure-Python reference mode.
_REFERENCE_CHILD = """\
import json, sys
from vmlab.bench.runner import reference_run
print(json.dumps(reference_run(*json.loads(sys.argv[1]))))
"""


# A fresh child process that calls ``module.name(*args)`` and prints its JSON result (or the
# message of the RuntimeError it raised, BenchError included: a failed guest, a wrong answer).
_MEASURE_CHILD = """\
import importlib, json, sys
module, name, args = json.loads(sys.argv[1])
try:
    result = getattr(importlib.import_module(module), name)(*args)
except RuntimeError as exc:
    result = {"error": str(exc)}
print(json.dumps(result))
"""


class BenchError(RuntimeError):
    """The benchmark could not measure something (a guest failed, a subprocess died, ...)."""


@dataclass(frozen=True)
class Settings:
    """Sizes and repetition counts of one benchmark run (``Settings.full()`` or ``.quick()``)."""

    is_quick: bool
    defines: dict[str, dict[str, int]]  # workload -> image defines (empty = the image defaults)
    repeats: int  # repetitions of each emulated and native timing (the best counts)
    processes: int  # fresh processes that each time every workload (the median counts)
    python_instructions: int  # instructions run by the pure-Python reference, per repetition
    python_repeats: int
    start_repeats: int  # warm-start repetitions
    cold_repeats: int  # cold-compile repetitions (each compiles everything, ~20 s)

    @classmethod
    def full(cls) -> Settings:
        """The real benchmark: every image at its default sizes."""
        return cls(
            is_quick=False,
            defines={"sieve": {}, "sieve_paging": {"PAGING": 1}, "matmul": {}, "minikernel": {}},
            repeats=7,
            processes=5,
            python_instructions=150_000,
            python_repeats=3,
            start_repeats=5,
            cold_repeats=2,
        )

    @classmethod
    def quick(cls) -> Settings:
        """Small sizes and few repetitions: the whole benchmark in well under a minute."""
        return cls(
            is_quick=True,
            defines={
                "sieve": {"N": 100_000},
                "sieve_paging": {"N": 100_000, "PAGING": 1},
                "matmul": {"N": 30},
                "minikernel": dict(_QUICK_MINIKERNEL),
            },
            repeats=3,
            processes=2,
            python_instructions=20_000,
            python_repeats=1,
            start_repeats=2,
            cold_repeats=1,
        )


def _time_side_by_side(
    fns: list[Callable[[], tuple[float, Any]]], repeats: int
) -> list[tuple[float, Any]]:
    """Best time of each function and its last result, run in turns after a warm-up call.

    Each function times itself and returns ``(seconds, result)``. Taking turns (a, b, a, b, ...)
    exposes every function to the same background load, so the ratio of their times holds up on
    a busy machine.
    """
    results = [fn()[1] for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            seconds, results[i] = fn()
            best[i] = min(best[i], seconds)
    return list(zip(best, results, strict=True))


def _timed(fn: Callable[[], Any]) -> Callable[[], tuple[float, Any]]:
    """``fn`` made to return ``(wall seconds, result)``."""

    def timed() -> tuple[float, Any]:
        """One timed call."""
        t0 = time.perf_counter()
        result = fn()
        return time.perf_counter() - t0, result

    return timed


_Native = tuple[Callable[[], Any], Callable[[Any], str]]


def _native_sieve(symbols: dict[str, int]) -> _Native:
    """The native sieve at the image's N, and the line the guest prints for that answer."""
    n = symbols["N"]
    return (lambda: natives.sieve(n)), (lambda count: f"sieve: {count} primes below {n}\n")


def _native_matmul(symbols: dict[str, int]) -> _Native:
    """Native matmul at the image's N and SEED, and the line the guest prints for that answer."""
    n, seed = symbols["N"], symbols["SEED"]

    def line(answer: tuple[int, int, int]) -> str:
        """The guest's report line for (checksum, sum, cheap sum)."""
        return f"matmul: {n}x{n}, checksum 0x{answer[0]:08x}, sum {answer[1]}\n"

    return (lambda: natives.matmul(n, seed)), line


_WORKLOADS = (
    ("sieve", "sieve", "sieve", ("N",), _native_sieve),
    ("sieve_paging", "sieve", "sieve+paging", ("N", "PAGING"), _native_sieve),
    ("matmul", "matmul", "matmul", ("N",), _native_matmul),
    ("minikernel", "minikernel", "minikernel", (), None),
)


def _child_env(**changes: str | None) -> dict[str, str]:
    """The environment for a child Python: this vmlab importable, ``changes`` applied."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _python(code: str, env: dict[str, str], *args: str, timeout: float = 600) -> tuple[float, str]:
    """Run ``python -c code args``; its wall time and stdout. BenchError if it fails."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"a benchmark subprocess took more than {timeout:.0f} s") from None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"a benchmark subprocess failed (exit {proc.returncode}): {tail}")
    return seconds, proc.stdout


def in_fresh_processes(fn: Callable[..., Any], args: list[Any], processes: int) -> list[Any]:
    """``fn(*args)`` (JSON in, JSON out) run in ``processes`` fresh Pythons, one after another.

    The speed of the compiled core varies by 30-40 % from process to process, so a figure
    measured in one process is a draw from a lottery; each child here is one draw. A RuntimeError in a child (a guest failed, a wrong answer) is raised here as
    BenchError with the child's message.
    """
    env = _child_env(NUMBA_DISABLE_JIT=None)
    job = json.dumps([fn.__module__, fn.__qualname__, args])
    results = []
    for _ in range(processes):
        _, out = _python(_MEASURE_CHILD, env, job)
        result = json.loads(out.strip().splitlines()[-1])
        if isinstance(result, dict) and "error" in result:
            raise BenchError(result["error"])
        results.append(result)
    return results


def spread(values: list[float]) -> dict[str, Any]:
    """Per-process figures summed up: their median (the figure), min, max, count and values."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "processes": len(values),
        "values": list(values),
    }


def reference_run(
    name: str, defines: dict[str, int], instructions: int, repeats: int
) -> dict[str, float]:
    """Time the first ``instructions`` instructions of an image, from reset.

    The benchmark runs this in a child process with the JIT disabled, and in-process on the
    jitted core, so that both modes execute the same instructions timed by the same code.
    Returns the instructions executed (fewer if the program ends first) and the best of
    ``repeats`` times.
    """
    machine = Machine(memory=MEMORY)
    machine.load(images.load(name, **defines))
    best = float("inf")
    done = 0
    for _ in range(repeats):
        machine.reset()
        t0 = time.perf_counter()
        result = machine.run(max_instructions=instructions)
        best = min(best, time.perf_counter() - t0)
        done = result.instructions
    return {"instructions": done, "seconds": best}


def _whole_run(
    image_name: str, defines: dict[str, int]
) -> tuple[Image, Machine, Callable[[], Any]]:
    """The image, a machine with it loaded, and a function that runs it from reset to the end.

    The function returns ``(seconds, result)``: the time of ``Machine.run`` alone, as the
    hypervisor section times its bare-metal runs. The reset before it is left out: it zeroes
    the machine's RAM and decode cache (1 ms for 4 MiB), a cost of the machine's size, not of
    the program (the guest clears the memory it uses itself, as the native twin does).
    """
    image = images.load(image_name, **defines)
    machine = Machine(memory=MEMORY)
    machine.load(image)

    def once() -> tuple[float, Any]:
        """One whole run from reset: its seconds and result."""
        machine.reset()
        result = machine.run()
        return result.host_seconds, result

    return image, machine, once


def measure_workloads(
    defines: dict[str, dict[str, int]], repeats: int
) -> dict[str, dict[str, Any]]:
    """Every workload from reset to its end, each in turns with its native twin, in this process.

    The benchmark calls this in fresh child processes (:func:`in_fresh_processes`). Per workload:
    its size, instructions, cycles and best emulated time, and for those with a native twin the
    best native time and the ratio. BenchError if a guest fails or its answer is not the native one.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, name, title, size_symbols, native in _WORKLOADS:
        image, machine, whole_run = _whole_run(name, defines[key])
        symbols = image.symbols
        fns = [whole_run]
        if native is not None:
            native_run, native_line = native(symbols)
            fns.append(_timed(native_run))
        timings = _time_side_by_side(fns, repeats)
        seconds, result = timings[0]
        output = machine.console.output
        if result.reason not in ("halt", "poweroff") or result.exit_code != 0:
            raise BenchError(f"{title} did not succeed: {result}\n{output[-500:]}")
        entry: dict[str, Any] = {
            "size": {sym: symbols[sym] for sym in size_symbols},
            "instructions": result.instructions,
            "cycles": result.cycles,
            "emulated_seconds": seconds,
        }
        if native is not None:
            native_seconds, answer = timings[1]
            line = native_line(answer)
            if line not in output:
                raise BenchError(
                    f"{title}: the guest's answer differs from the native one: expected "
                    f"{line.strip()!r} in its output:\n{output}"
                )
            entry["native_seconds"] = native_seconds
            entry["slowdown_vs_native"] = seconds / native_seconds
        out[key] = entry
    return out


def _cold_start(repeats: int) -> float:
    """Best time of import + first run of hello with an empty kernel cache (compiles everything)."""
    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="vmlab-cold-") as empty:
            env = _child_env(VMLAB_CACHE_DIR=empty, NUMBA_DISABLE_JIT=None)
            _, out = _python(_START_CHILD, env)
        best = min(best, float(out.strip().splitlines()[-1]))
    return best


def _warm_start(repeats: int) -> dict[str, Any]:
    """Wall times of ``python -c "import vmlab; run hello"`` with the kernel cache warm: spread."""
    env = _child_env(NUMBA_DISABLE_JIT=None)
    _python(_START_CHILD, env)  # makes sure the cache this environment uses is filled
    return spread([_python(_START_CHILD, env)[0] for _ in range(repeats)])


def run_benchmark(
    settings: Settings | None = None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Measure everything; returns the report as a JSON-ready dict (see ``format_report``)."""
    settings = settings or Settings.full()
    say = progress or (lambda _text: None)
    if config.DISABLE_JIT:
        raise BenchError("the benchmark needs the JIT: unset NUMBA_DISABLE_JIT")
    report: dict[str, Any] = {
        "vmlab": vmlab.__version__,
        "python": platform.python_version(),
        "numba": numba.__version__,
        "cpus": os.cpu_count() or 1,
        "quick": settings.is_quick,
        "repeats": settings.repeats,
        "processes": settings.processes,
        "targets": dict(TARGETS),
        "workloads": {},
    }
    say(
        f"every workload, emulated and native side by side, in {settings.processes} fresh processes"
    )
    runs = in_fresh_processes(
        measure_workloads, [settings.defines, settings.repeats], settings.processes
    )
    for key, name, title, *_ in _WORKLOADS:
        defines = settings.defines[key]
        per = [run[key] for run in runs]
        first = per[0]
        if any(p["instructions"] != first["instructions"] for p in per):
            raise BenchError(f"{title} executed different instruction counts in different runs")
        mips = spread([first["instructions"] / p["emulated_seconds"] / 1e6 for p in per])
        entry: dict[str, Any] = {
            "title": title,
            "image": name,
            "defines": defines,
            "size": first["size"],
            "instructions": first["instructions"],
            "cycles": first["cycles"],
            "emulated_seconds": statistics.median(p["emulated_seconds"] for p in per),
            "mips": mips["median"],
            "mips_spread": mips,
        }
        if "native_seconds" in first:
            slowdown = spread([p["slowdown_vs_native"] for p in per])
            entry["native_seconds"] = statistics.median(p["native_seconds"] for p in per)
            entry["slowdown_vs_native"] = slowdown["median"]
            entry["slowdown_vs_native_spread"] = slowdown
        say(f"{title}: pure Python ({settings.python_instructions:,} instructions)")
        args = json.dumps([name, defines, settings.python_instructions, settings.python_repeats])
        _, out = _python(_REFERENCE_CHILD, _child_env(NUMBA_DISABLE_JIT="1"), args)
        ref = json.loads(out.strip().splitlines()[-1])
        entry["python_instructions"] = ref["instructions"]
        entry["python_seconds"] = ref["seconds"]
        entry["python_mips"] = ref["instructions"] / ref["seconds"] / 1e6
        # the very same instructions on the jitted core, timed by the very same code
        jit = reference_run(name, defines, settings.python_instructions, settings.repeats)
        if jit["instructions"] != ref["instructions"]:
            raise BenchError(
                f"{title}: the pure-Python run executed a different number of instructions"
            )
        entry["jit_prefix_seconds"] = jit["seconds"]
        entry["jit_prefix_mips"] = jit["instructions"] / jit["seconds"] / 1e6
        entry["speedup_vs_python"] = entry["jit_prefix_mips"] / entry["python_mips"]
        report["workloads"][key] = entry
    report["hypervisor"] = _hypervisor_section(settings, say)
    say("warm start")
    warm = _warm_start(settings.start_repeats)
    report["warm_start_seconds"] = warm["median"]
    report["warm_start_spread"] = warm
    say("cold JIT compile (empty cache)")
    report["cold_compile_seconds"] = _cold_start(settings.cold_repeats)
    report["met"] = _targets_met(report)
    return report


def _targets_met(report: dict[str, Any]) -> dict[str, bool]:
    """Which targets the figures in ``report`` meet (name -> True/False)."""
    met: dict[str, bool] = {}
    for key, entry in report["workloads"].items():
        met[f"{key}.speedup_vs_python"] = (
            entry["speedup_vs_python"] >= TARGETS["speedup_vs_python_min"]
        )
        if key in _NATIVE_TARGET:
            met[f"{key}.slowdown_vs_native"] = (
                entry["slowdown_vs_native"] <= TARGETS[_NATIVE_TARGET[key]]
            )
    met["warm_start_seconds"] = report["warm_start_seconds"] < TARGETS["warm_start_max_seconds"]
    met.update(_hypervisor_met(report))
    return met


# ---- the hypervisor section (vmlab/bench/hypervisor.py) -----------------------------------------
def _hypervisor_section(settings: Settings, say: Callable[[str], None]) -> dict[str, Any]:
    """The "hypervisor" part of the report: what virtualization costs (see bench/README.md)."""
    from .hypervisor import run_hypervisor_benchmark

    try:
        return run_hypervisor_benchmark(settings.is_quick, say)
    except RuntimeError as exc:
        raise BenchError(f"hypervisor benchmark: {exc}") from exc


def _hypervisor_met(report: dict[str, Any]) -> dict[str, bool]:
    """The hypervisor targets met (none if the report has no hypervisor section)."""
    if "hypervisor" not in report:
        return {}
    from .hypervisor import hypervisor_targets_met

    return hypervisor_targets_met(report["hypervisor"])


def _hypervisor_lines(report: dict[str, Any]) -> list[str]:
    """The hypervisor section of the printed report (nothing if the report has none)."""
    if "hypervisor" not in report:
        return []
    from .hypervisor import format_hypervisor

    return ["", *format_hypervisor(report["hypervisor"], report["met"])]


def _time(seconds: float) -> str:
    """A duration with a fitting unit and three significant digits: 2.86 ms, 64.0 ms, 1.21 s."""
    scale, unit = (1.0, "s") if seconds >= 1 else (1e-3, "ms") if seconds >= 1e-3 else (1e-6, "us")
    value = seconds / scale
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def format_spread(
    s: dict[str, Any], show: Callable[[float], str], bound: Callable[[float], str] | None = None
) -> str:
    """A median with its spread across processes: ``20.3x (18.8-24.1, 5 processes)``."""
    bound = bound or show
    sep = " to " if bound(s["min"]).startswith(("+", "-")) else "-"
    n = s["processes"]
    return (
        f"{show(s['median'])} ({bound(s['min'])}{sep}{bound(s['max'])}, "
        f"{n} process{'es' if n != 1 else ''})"
    )


def _verdict(ok: bool) -> str:
    """The word printed beside a target."""
    return "ok" if ok else "MISSED"


def format_report(report: dict[str, Any]) -> str:
    """The report of ``run_benchmark`` as readable tables, each figure beside its target."""
    work = report["workloads"]
    met = report["met"]
    t = report["targets"]
    first = next(iter(work.values()))
    lines = [
        f"vmlab {report['vmlab']} benchmark{' (--quick: small sizes)' if report['quick'] else ''}"
        f" -- Python {report['python']}, numba {report['numba']}, {report['cpus']} CPUs",
        f"Whole runs: {report['processes']} fresh processes each time every workload beside its "
        f"native twin, in turns (best of {report['repeats']}",
        "after a warm-up); a figure is the median across the processes, (min-max) beside it: the "
        "compiled core's",
        "speed differs by 30-40% from process to process (and minute to minute). Targets are judged "
        "on the median.",
        "",
        "Guest speed on the jitted core (whole program, from reset to halt/power-off)",
        f"  {'workload':<14}{'size':<20}{'instructions':>14}{'emulated':>12}   guest MIPS",
    ]
    for entry in work.values():
        size = " ".join(f"{k}={v}" for k, v in entry["size"].items()) or (
            "defaults" if not entry["defines"] else "smaller"
        )
        lines.append(
            f"  {entry['title']:<14}{size:<20}{entry['instructions']:>14,}"
            f"{_time(entry['emulated_seconds']):>12}   "
            + format_spread(entry["mips_spread"], lambda v: f"{v:.1f}")
        )
    lines += [
        "",
        "Against pure Python (the same core with NUMBA_DISABLE_JIT=1; both run the first "
        f"{first['python_instructions']:,} instructions of each image)",
        f"  {'workload':<14}{'Python MIPS':>12}{'JIT MIPS':>10}{'JIT faster by':>15}   target",
    ]
    for key, entry in work.items():
        lines.append(
            f"  {entry['title']:<14}{entry['python_mips']:>12.3f}{entry['jit_prefix_mips']:>10.1f}"
            f"{entry['speedup_vs_python']:>14.0f}x   >= {t['speedup_vs_python_min']:.0f}x "
            f"{_verdict(met[f'{key}.speedup_vs_python'])}"
        )
    lines += [
        "",
        "Against native Numba (vmlab/bench/natives.py: the same algorithm and size, whole program)",
        f"  {'workload':<14}{'native':>10}{'emulated':>12}   {'slower by':<32} target",
    ]
    ratio, one = (lambda v: f"{v:.1f}x"), (lambda v: f"{v:.1f}")
    for key, entry in work.items():
        if "native_seconds" not in entry:
            lines.append(f"  {entry['title']:<14}(no native equivalent: a whole operating system)")
            continue
        target = "-"
        if key in _NATIVE_TARGET:
            target = (
                f"<= {t[_NATIVE_TARGET[key]]:.0f}x {_verdict(met[f'{key}.slowdown_vs_native'])}"
            )
        lines.append(
            f"  {entry['title']:<14}{_time(entry['native_seconds']):>10}"
            f"{_time(entry['emulated_seconds']):>12}   "
            f"{format_spread(entry['slowdown_vs_native_spread'], ratio, one):<32} {target}"
        )
    lines += [
        "",
        "Start-up",
        f"  cold JIT compile: import + first run, empty VMLAB_CACHE_DIR  "
        f"{_time(report['cold_compile_seconds'])} (the best run; no target)",
        '  warm start: python -c "import vmlab; run hello" (wall)       '
        + format_spread(report["warm_start_spread"], _time)
        + f"   < {t['warm_start_max_seconds']:g} s {_verdict(met['warm_start_seconds'])}",
    ]
    lines += _hypervisor_lines(report)
    missed = [name for name, ok in met.items() if not ok]
    lines += [
        "",
        f"targets missed: {', '.join(missed)}" if missed else "all targets met",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's command-line options (shared by ``vmlab bench`` and ``bench/run.py``)."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few repetitions (under a minute)"
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed options; print the report on stdout, progress on stderr."""
    settings = Settings.quick() if args.quick else Settings.full()

    def progress(text: str) -> None:
        """Report a step on stderr."""
        print(f"bench: {text}", file=sys.stderr, flush=True)

    try:
        report = run_benchmark(settings, progress)
    except BenchError as exc:
        print(f"vmlab bench: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python bench/run.py [--json] [--quick]``: run the benchmark."""
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description="vmlab's speed benchmark (see bench/README.md)"
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return run_from_args(args)
    except KeyboardInterrupt:
        print("vmlab bench: interrupted", file=sys.stderr)
        return 130
