"""The hypervisor benchmark: what virtualization costs, measured side by side in one run.

Four parts, each reported as ratios (the machine is noisy; absolute times are only context):

(a) **hw-assist vs bare metal** on a CPU-bound image (the sieve): the same image runs to its end on
    bare metal (``vmlab.Machine``) and alone in a hw-assist VM, timed in turns (bare, VM, bare,
    ...), best of N, in each of several fresh processes (the compiled core's speed differs by
    30-40 % from process to process). Reported: the modelled-cycle overhead (deterministic:
    second-stage TLB misses and the few exits) and the host-time ratio, the median across the
    processes with its min and max. Target: at most 5 % slower, on both (host time: the median).
(b) **exit cost**: host microseconds per exit on the jitted and the Python exit paths
    (``vmlab.hypervisor.fastpath.exit_cost_microbenchmark``), and the minikernel's overhead in
    every technique and on both paths (``vmlab.hypervisor.metrics.overhead``, each timed in turns
    with bare metal; paravirtual runs the kernel built with ``PV=1``, measured against the
    unmodified kernel on bare metal).
(c) **encapsulation**: snapshot, restore and linked clone of a 16 MiB VM
    (``vmlab.hypervisor.snapshot.snapshot_cost_figures``).
(d) **consolidation**: 100 VMs on one host, one busy and 99 idle (linked clones of one idle VM,
    waking on a 10M-cycle timer tick like an idle guest OS at 100 Hz), scheduled round-robin by
    equal shares: the busy VM's throughput among them against alone (modelled instructions per
    host cycle, and guest instructions per host second, windows timed in turns), and the host
    memory each idle linked clone costs.

A part whose module is not there prints "not available yet" and has no target (no number is
ever made up). ``run_hypervisor_benchmark`` returns the JSON-ready section that ``vmlab bench``
puts under ``"hypervisor"``.
"""

from __future__ import annotations

import importlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import images
from ..asm import assemble
from ..core.layout import STAT_TLB_MISSES, STAT_WALK_REFS
from ..hypervisor import MODES, Hypervisor
from ..hypervisor.metrics import baseline, overhead
from ..isa.arch import WALK_REF_CYCLES
from ..machine import Machine
from .runner import format_spread, in_fresh_processes, spread

__all__ = [
    "HV_TARGETS",
    "HvSettings",
    "format_hypervisor",
    "hw_assist_sieve_times",
    "hypervisor_targets_met",
    "run_hypervisor_benchmark",
]

# The hypervisor's speed goals, printed beside each figure.
HV_TARGETS: dict[str, float] = {
    "hw_assist_cycle_overhead_max": 0.05,  # sieve in a hw-assist VM: modelled cycles vs bare metal
    "hw_assist_time_overhead_max": 0.05,  # the same, host wall-clock time
}
NOT_AVAILABLE = "not available yet"

IDLE_TICK = 10_000_000  # the idle guests' timer tick (100 Hz on a 1 GHz host)
_IDLE_SRC = f"""
# an idle guest OS: wakes on every timer tick, re-arms the timer, sleeps again
_start: li   t0, 1
        csrw ie, t0              # the timer line (status.IE stays 0: wfi only waits)
loop:   csrr t0, cycle
        li   t1, {IDLE_TICK}
        add  t0, t0, t1
        csrw timecmp, t0
        wfi
        j    loop
"""
_BUSY_SRC = """
# a busy guest: forever read, update and write back a 64 KiB array
_start: la   t0, buf
        li   t1, 16384
inner:  lw   t2, 0(t0)
        addi t2, t2, 1
        sw   t2, 0(t0)
        addi t0, t0, 4
        addi t1, t1, -1
        bne  t1, zero, inner
        j    _start
        .data
buf:    .space 65536
"""


@dataclass(frozen=True)
class HvSettings:
    """Sizes and repetitions of the hypervisor benchmark (``full()`` or ``quick()``)."""

    is_quick: bool
    sieve_n: int
    repeats: int
    processes: int  # fresh processes that each time the hw-assist sieve (the median counts)
    exit_iterations: int
    exit_repeats: int
    kernel_defines: dict[str, int]
    kernel_repeats: int
    snapshot_clones: int
    snapshot_repeats: int
    crowd_vms: int
    crowd_window: int  # host cycles per timed window
    crowd_windows: int

    @classmethod
    def full(cls) -> HvSettings:
        """The real benchmark."""
        return cls(
            is_quick=False,
            sieve_n=1_000_000,
            repeats=5,
            processes=5,
            exit_iterations=20_000,
            exit_repeats=3,
            kernel_defines={"PRIMES_N": 20000, "COLLATZ_N": 3000, "PING_N": 500, "TICKER_N": 3},
            kernel_repeats=3,
            snapshot_clones=10,
            snapshot_repeats=3,
            crowd_vms=100,
            crowd_window=IDLE_TICK,  # every idle VM wakes once per window
            crowd_windows=20,
        )

    @classmethod
    def quick(cls) -> HvSettings:
        """Small sizes, few repetitions (a few seconds)."""
        return cls(
            is_quick=True,
            sieve_n=100_000,
            repeats=3,
            processes=2,
            exit_iterations=2_000,
            exit_repeats=1,
            kernel_defines={"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2},
            kernel_repeats=2,
            snapshot_clones=5,
            snapshot_repeats=1,
            crowd_vms=100,
            crowd_window=IDLE_TICK,
            crowd_windows=8,
        )


def _finite(x: Any) -> float | None:
    """``x`` as a float, or None if it is not a finite number (JSON has no infinity)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """``vmlab.hypervisor.<module>.<name>`` if that exists (parts are being written), else None."""
    try:
        mod = importlib.import_module(f"vmlab.hypervisor.{module}")
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


# ---- (a) hw-assist against bare metal -----------------------------------------------------------
def hw_assist_sieve_times(sieve_n: int, repeats: int) -> dict[str, Any]:
    """The sieve to its end on bare metal and in hw-assist VMs (both exit paths), in turns.

    Runs in this process (the benchmark calls it in fresh ones): the deterministic figures, and
    the best of ``repeats`` host times of bare metal and of each path, with their ratio.
    """
    image = images.load("sieve", N=sieve_n)
    machine = Machine(memory="4M")
    machine.load(image)
    paths = ["python"] + (["jit"] if _optional("fastpath", "run_slice_jit") else [])

    def bare() -> tuple[float, int, int]:
        """One bare-metal run: seconds, busy cycles, instructions.

        Timed like the VM runs: the wall time of the whole public call (``machine.run()``, as
        ``hv.run()`` there), not the core-only ``RunResult.host_seconds`` (about 1 % shorter).
        """
        machine.reset()
        t0 = time.perf_counter()
        r = machine.run()
        seconds = time.perf_counter() - t0
        if r.reason != "halt" or r.exit_code != 0:
            raise RuntimeError(f"the sieve failed on bare metal: {r}")
        return seconds, r.cycles - machine.stats.idle_cycles, r.instructions

    def virtual(path: str) -> tuple[float, Any]:
        """One VM run (a fresh host and VM; only hv.run is timed)."""
        hv = Hypervisor(host_memory="8M")
        vm = hv.create_vm("sieve", image, memory="4M", mode="hw-assist", exits=path)
        vm.start()
        t0 = time.perf_counter()
        hv.run()
        seconds = time.perf_counter() - t0
        if vm.stop_reason != "halt" or vm.exit_code != 0:
            raise RuntimeError(f"the sieve failed in a hw-assist VM: {vm.message}")
        return seconds, vm

    bare()
    for path in paths:  # warm-up: everything compiled and loaded before timing
        virtual(path)
    best_bare = float("inf")
    best = dict.fromkeys(paths, float("inf"))
    last: dict[str, Any] = {}
    cycles = instructions = 0
    for _ in range(repeats):
        seconds, cycles, instructions = bare()
        best_bare = min(best_bare, seconds)
        for path in paths:
            seconds, last[path] = virtual(path)
            best[path] = min(best[path], seconds)
    out: dict[str, Any] = {
        "size": {"N": sieve_n},
        "target_path": "jit" if "jit" in paths else "python",
        "instructions": instructions,
        "bare_cycles": cycles,
        "bare_seconds": best_bare,
        "paths": {},
    }
    for path in paths:
        vm = last[path]
        m = vm.metrics()
        misses = int(vm.cpu.st[STAT_TLB_MISSES])
        out["paths"][path] = {
            "vm_cycles": m.consumed_cycles,
            "guest_cycles": m.guest_cycles,
            "hypervisor_cycles": m.hypervisor_cycles,
            "exits": m.exit_count,
            "tlb_misses": misses,  # second-stage walks the guest paid (bare metal: paging off)
            "walk_refs": int(vm.cpu.st[STAT_WALK_REFS]),  # one p2m entry per walk
            "walk_cycles": int(vm.cpu.st[STAT_WALK_REFS]) * WALK_REF_CYCLES,
            "cycle_overhead": m.consumed_cycles / cycles - 1,
            "vm_seconds": best[path],
            "time_ratio": best[path] / best_bare,
            "time_overhead": best[path] / best_bare - 1,
        }
    return out


def _hw_assist_sieve(s: HvSettings) -> dict[str, Any]:
    """``hw_assist_sieve_times`` in ``s.processes`` fresh processes: host times are medians."""
    runs = in_fresh_processes(hw_assist_sieve_times, [s.sieve_n, s.repeats], s.processes)
    out = runs[0]
    if any(r["bare_cycles"] != out["bare_cycles"] for r in runs):
        raise RuntimeError("the sieve took different modelled cycles in different processes")
    out["processes"] = len(runs)
    out["bare_seconds"] = statistics.median(r["bare_seconds"] for r in runs)
    for path, p in out["paths"].items():
        overhead = spread([r["paths"][path]["time_overhead"] for r in runs])
        p["vm_seconds"] = statistics.median(r["paths"][path]["vm_seconds"] for r in runs)
        p["time_overhead"] = overhead["median"]
        p["time_ratio"] = 1 + overhead["median"]
        p["time_overhead_spread"] = overhead
    return out


# ---- (b) exits -----------------------------------------------------------------------------------
def _exit_costs(s: HvSettings, say: Callable[[str], None]) -> dict[str, Any]:
    """Host microseconds per exit, jitted vs Python, for each technique."""
    bench = _optional("fastpath", "exit_cost_microbenchmark")
    if bench is None:
        return {"available": False}
    out: dict[str, Any] = {"available": True, "iterations": s.exit_iterations, "modes": {}}
    for mode in MODES:
        say(f"hypervisor: exit cost, {mode}")
        r = bench(mode, iterations=s.exit_iterations, repeat=s.exit_repeats)
        out["modes"][mode] = {
            "exit": r["exit"],
            "python_us_per_exit": _finite(r["python_us_per_exit"]),
            "jit_us_per_exit": _finite(r["jit_us_per_exit"]),
            "speedup": _finite(r["speedup"]),  # None: the jitted exit was too cheap to measure
        }
    return out


def _kernel_overhead(s: HvSettings, say: Callable[[str], None]) -> dict[str, Any]:
    """The minikernel's overhead against bare metal in every technique, on both exit paths."""
    image = images.load("minikernel", **s.kernel_defines)
    ref = baseline(image, repeat=max(2, s.kernel_repeats))
    has_pv = "PV" in image.symbols
    paths = ["python"] + (["jit"] if _optional("fastpath", "run_slice_jit") else [])
    out: dict[str, Any] = {
        "defines": dict(s.kernel_defines),
        "baseline_cycles": ref.cycles,
        "baseline_instructions": ref.instructions,
        "baseline_seconds": ref.host_seconds,
        "modes": {},
    }
    for mode in MODES:
        if mode == "paravirtual" and not has_pv:
            continue
        guest = (
            images.load("minikernel", **s.kernel_defines, PV=1) if mode == "paravirtual" else image
        )
        out["modes"][mode] = {}
        for path in paths:
            say(f"hypervisor: minikernel, {mode}, {path} exits")
            overhead(guest, mode, exits=path, reference=ref)  # warm-up
            bare_best = vm_best = float("inf")
            for _ in range(s.kernel_repeats):  # in turns: bare metal, VM, bare metal, VM, ...
                bare_best = min(bare_best, baseline(image).host_seconds)
                o = overhead(guest, mode, exits=path, reference=ref)
                vm_best = min(vm_best, o.host_seconds)
            out["modes"][mode][path] = {
                "cycles": o.cycles,
                "extra_cycles": o.extra_cycles,
                "cycle_overhead": o.cycle_overhead,
                "exits": sum(e.count for e in o.exits),
                "host_seconds": vm_best,
                "bare_seconds": bare_best,
                "time_ratio": vm_best / bare_best,
            }
    return out


# ---- (c) snapshots -------------------------------------------------------------------------------
def _snapshots(s: HvSettings) -> dict[str, Any]:
    """Snapshot, restore and clone costs of a 16 MiB VM, from the snapshot module."""
    figures = _optional("snapshot", "snapshot_cost_figures")
    if figures is None:
        return {"available": False}
    got = figures(memory="16M", clones=s.snapshot_clones, repeat=s.snapshot_repeats)
    return {"available": True, **got}


# ---- (d) consolidation ---------------------------------------------------------------------------
def _crowd(s: HvSettings, say: Callable[[str], None]) -> dict[str, Any]:
    """One busy VM among many idle ones against the same VM alone, in timed windows."""
    busy_image, idle_image = assemble(_BUSY_SRC), assemble(_IDLE_SRC)
    idle_memory = 256 * 1024
    host = f"{(s.crowd_vms * idle_memory >> 20) + 8}M"
    alone = Hypervisor(host_memory=host)
    crowd = Hypervisor(host_memory=host)
    busy = {hv: hv.create_vm("busy", busy_image, memory="256K") for hv in (alone, crowd)}
    template = crowd.create_vm("idle-0", idle_image, memory=idle_memory)
    template.start()
    crowd.run(cycles=100_000)  # it reaches its wfi
    linked = _optional("snapshot", "clone_vm") is not None
    used = crowd.memory.used_bytes
    t0 = time.perf_counter()
    others = s.crowd_vms - 2
    if linked:
        template.pause()
        clones = [template.clone(f"idle-{i + 1}", linked=True) for i in range(others)]
        template.resume()
        for c in clones:
            c.resume()
    else:
        clones = [
            crowd.create_vm(f"idle-{i + 1}", idle_image, memory=idle_memory) for i in range(others)
        ]
        for c in clones:
            c.start()
    create_seconds = (time.perf_counter() - t0) / others
    for vm in busy.values():
        vm.start()
    say(f"hypervisor: {s.crowd_vms} VMs, one busy, side by side with it alone")
    for hv in (alone, crowd):  # warm-up window: every idle VM has reached its wfi
        hv.run(cycles=s.crowd_window)
    instr = {hv: 0 for hv in (alone, crowd)}
    best = {hv: float("inf") for hv in (alone, crowd)}
    split = (0.0, 0.0)  # the best crowd window: host time in the busy VM's and the idle VMs' slices
    for _ in range(s.crowd_windows):
        for hv in (alone, crowd):
            before = busy[hv].stats.instructions
            spent = [vm.stats.host_seconds for vm in hv.vms]
            t0 = time.perf_counter()
            hv.run(cycles=s.crowd_window)
            took = time.perf_counter() - t0
            instr[hv] += busy[hv].stats.instructions - before
            if took < best[hv]:
                best[hv] = took
                deltas = [vm.stats.host_seconds - t for vm, t in zip(hv.vms, spent, strict=True)]
                split = (deltas[0], sum(deltas[1:])) if hv is crowd else split
    window_instr = {hv: instr[hv] / s.crowd_windows for hv in (alone, crowd)}
    idle_used = sum(vm.metrics().consumed_cycles for vm in crowd.vms if vm.name != "busy")
    running = sum(1 for vm in crowd.vms if vm.state == "running")
    if running != s.crowd_vms:
        raise RuntimeError(f"only {running} of the {s.crowd_vms} VMs are running")
    out: dict[str, Any] = {
        "vms": s.crowd_vms,
        "idle_tick_cycles": IDLE_TICK,
        "window_cycles": s.crowd_window,
        "windows": s.crowd_windows,
        "alone_instructions_per_window": window_instr[alone],
        "crowd_instructions_per_window": window_instr[crowd],
        "throughput_ratio": window_instr[crowd] / window_instr[alone],
        "alone_mips": window_instr[alone] / best[alone] / 1e6,
        "crowd_mips": window_instr[crowd] / best[crowd] / 1e6,
        "idle_cycles_share": idle_used / crowd.clock,
        "window_seconds": best[crowd],
        "busy_vm_seconds": split[0],
        "idle_vms_seconds": split[1],
        "scheduler_seconds": best[crowd] - split[0] - split[1],
        "create_ms_per_vm": create_seconds * 1000,
        "linked_clones": linked,
        "idle_vm_memory": idle_memory,
        "host_bytes_per_idle_linked_clone": (
            round((crowd.memory.used_bytes - used) / others) if linked else None
        ),
    }
    out["wall_throughput_ratio"] = out["crowd_mips"] / out["alone_mips"]
    return out


# ---- the section ---------------------------------------------------------------------------------
def run_hypervisor_benchmark(
    quick: bool = False, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Measure (a) to (d); returns the JSON-ready "hypervisor" section of the report."""
    s = HvSettings.quick() if quick else HvSettings.full()
    say = progress or (lambda _text: None)
    say(
        f"hypervisor: sieve, bare metal and hw-assist VMs, side by side, in {s.processes} processes"
    )
    section: dict[str, Any] = {"quick": s.is_quick, "hw_assist_sieve": _hw_assist_sieve(s)}
    section["exit_cost"] = _exit_costs(s, say)
    section["minikernel"] = _kernel_overhead(s, say)
    say("hypervisor: snapshots and clones of a 16 MiB VM")
    section["snapshots"] = _snapshots(s)
    section["crowd"] = _crowd(s, say)
    section["targets"] = dict(HV_TARGETS)
    return section


def hypervisor_targets_met(section: dict[str, Any]) -> dict[str, bool]:
    """Which hypervisor targets the section's figures meet (keys prefixed "hypervisor.")."""
    met: dict[str, bool] = {}
    a = section.get("hw_assist_sieve", {})
    sieve = a.get("paths", {}).get(a.get("target_path"))
    if sieve is not None:
        t = section["targets"]
        met["hypervisor.hw_assist_sieve.cycle_overhead"] = (
            sieve["cycle_overhead"] <= t["hw_assist_cycle_overhead_max"]
        )
        met["hypervisor.hw_assist_sieve.time_overhead"] = (
            sieve["time_overhead"] <= t["hw_assist_time_overhead_max"]
        )
    return met


def _pct(x: float) -> str:
    """A fraction as a signed percentage: +4.2%."""
    return f"{100 * x:+.1f}%"


def _ms(seconds: float) -> str:
    """Seconds as milliseconds with 3 significant digits."""
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def format_hypervisor(section: dict[str, Any], met: dict[str, bool]) -> list[str]:
    """The section as report lines (a heading, then (a) to (d))."""
    verdict = {True: "ok", False: "MISSED"}
    t = section["targets"]
    a = section["hw_assist_sieve"]
    lines = [
        "Hypervisor (vmlab.bench.hypervisor; ratios measured side by side in this run)",
        f"  (a) sieve N={a['size']['N']:,} to its end: bare metal {_ms(a['bare_seconds'])}, "
        f"{a['bare_cycles']:,} cycles; the target is on the {a['target_path']} exit path",
        f"      host times: median of {a['processes']} fresh processes (each the best of turns "
        "with bare metal), (min to max) beside it",
        f"      {'hw-assist VM':<16}{'cycles':>13}{'overhead':>10}{'TLB walks':>10}"
        f"{'host time':>11}   {'overhead':<32} target",
    ]
    for path, p in a["paths"].items():
        key = "hypervisor.hw_assist_sieve."
        target = ""
        if path == a["target_path"]:
            target = (
                f"<= {100 * t['hw_assist_cycle_overhead_max']:.0f}%: cycles "
                f"{verdict[met[key + 'cycle_overhead']]}, host time "
                f"{verdict[met[key + 'time_overhead']]}"
            )
        lines.append(
            f"      {path + ' exits':<16}{p['vm_cycles']:>13,}{_pct(p['cycle_overhead']):>10}"
            f"{p['tlb_misses']:>10,}{_ms(p['vm_seconds']):>11}   "
            f"{format_spread(p['time_overhead_spread'], _pct):<32} {target}".rstrip()
        )
    e = section["exit_cost"]
    lines.append("  (b) host cost of one exit, jitted vs Python path (fastpath microbenchmark)")
    if not e["available"]:
        lines.append(f"      {NOT_AVAILABLE} (vmlab.hypervisor.fastpath)")
    else:
        lines.append(f"      {'mode':<22}{'exit':<12}{'Python':>10}{'jitted':>10}{'faster':>9}")
        for mode, r in e["modes"].items():
            py, jit, x = r["python_us_per_exit"], r["jit_us_per_exit"], r["speedup"]
            lines.append(
                f"      {mode:<22}{r['exit']:<12}"
                + (f"{py:>7.2f} us" if py is not None else f"{'-':>10}")
                + (f"{jit:>7.2f} us" if jit is not None else f"{'-':>10}")
                + (f"{x:>8.1f}x" if x is not None else f"{'(too fast to see)':>18}")
            )
    k = section["minikernel"]
    size = " ".join(f"{n}={v}" for n, v in k["defines"].items())
    lines += [
        f"      minikernel ({size}) against bare metal: {k['baseline_cycles']:,} busy cycles, "
        f"{_ms(k['baseline_seconds'])}",
        f"      {'mode':<22}{'exits':<8}{'cycles':>13}{'overhead':>10}{'exits':>8}"
        f"{'host time':>11}{'x bare':>8}",
    ]
    if "paravirtual" in k["modes"]:
        lines.append("      (paravirtual: the kernel built with PV=1, against the unmodified one)")
    for mode, paths in k["modes"].items():
        for path, o in paths.items():
            lines.append(
                f"      {mode:<22}{path:<8}{o['cycles']:>13,}{_pct(o['cycle_overhead']):>10}"
                f"{o['exits']:>8,}{_ms(o['host_seconds']):>11}{o['time_ratio']:>7.1f}x"
            )
    snap = section["snapshots"]
    lines.append("  (c) encapsulation: a 16 MiB VM (vmlab.hypervisor.snapshot)")
    if not snap["available"]:
        lines.append(f"      {NOT_AVAILABLE}")
    else:
        lines += [
            f"      snapshot full {snap['snapshot_full_ms']:.1f} ms, incremental (64 pages "
            f"dirty) {snap['snapshot_incremental_64_pages_ms']:.1f} ms, restore "
            f"{snap['restore_ms']:.1f} ms",
            f"      clone linked {snap['clone_linked_ms']:.1f} ms, full "
            f"{snap['clone_full_ms']:.1f} ms; host memory per idle linked clone "
            f"{snap['host_bytes_per_idle_linked_clone']:,} bytes (full clone "
            f"{snap['host_bytes_per_full_clone']:,})",
        ]
    c = section["crowd"]
    per_clone = c["host_bytes_per_idle_linked_clone"]
    lines += [
        f"  (d) {c['vms']} VMs: one busy, {c['vms'] - 1} idle (timer tick every "
        f"{c['idle_tick_cycles']:,} cycles), equal shares; windows of {c['window_cycles']:,} "
        "cycles",
        f"      busy VM throughput among them vs alone: {c['throughput_ratio']:.3f} (modelled), "
        f"{c['wall_throughput_ratio']:.3f} (host time: {c['crowd_mips']:.1f} vs "
        f"{c['alone_mips']:.1f} guest MIPS)",
        f"      host time of the best window {_ms(c['window_seconds'])}: busy VM "
        f"{_ms(c['busy_vm_seconds'])}, idle VMs {_ms(c['idle_vms_seconds'])}, scheduler "
        f"{_ms(c['scheduler_seconds'])}",
        f"      the idle VMs used {100 * c['idle_cycles_share']:.2f}% of the host CPU; "
        f"created in {c['create_ms_per_vm']:.2f} ms each; host memory per idle "
        + (
            f"linked clone {per_clone:,} bytes (of {c['idle_vm_memory']:,})"
            if per_clone is not None
            else f"linked clone: {NOT_AVAILABLE} (each idle VM holds {c['idle_vm_memory']:,})"
        ),
    ]
    return lines
