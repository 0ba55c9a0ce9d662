"""Where a run ends is invisible: ``hv.run(cycles=a); hv.run(cycles=b)`` == ``hv.run(cycles=a + b)``.

Every VM (registers, the whole CPU state array, memory, console, every counter in ``vm.stats``,
its metrics), the host (counters, metrics, memory, exit table), the scheduler (virtual times,
periods, the slice in progress, the CPU's last VM) and the time series (at every point of the
single run) must come out exactly the same, whatever the split, the VM mix, the virtualization
modes, the exit paths, idle VMs, limits and reservations. Only wall-clock figures
(``host_seconds``) may differ, and a split run's series has one extra point per run end.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmlab import Hypervisor, assemble, compare, images
from vmlab.hypervisor import hypercalls as hc
from vmlab.hypervisor.metrics import VM_ROW_KEYS
from vmlab.isa.arch import CSR_SCRATCH

KERNEL = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}

# image -> the modes it runs under (paravirtual needs the PV build of the minikernel)
KINDS: dict[str, tuple[str, ...]] = {
    "rogue": ("trap-and-emulate", "binary-translation", "hw-assist"),  # spins forever
    "minikernel": ("trap-and-emulate", "binary-translation", "paravirtual", "hw-assist"),  # wfi
    "sieve": ("trap-and-emulate", "binary-translation", "hw-assist"),  # halts part-way
    "echo": ("trap-and-emulate", "hw-assist"),  # waits for input that never comes
}


@dataclass(frozen=True)
class Spec:
    """One VM of a mix."""

    image: str
    mode: str
    exits: str = "python"
    shares: int = 1000
    reservation: float = 0.0
    limit: float | None = None


def load(spec: Spec) -> Any:
    if spec.image == "minikernel":
        return images.load("minikernel", PV=int(spec.mode == "paravirtual"), **KERNEL)
    if spec.image == "sieve":
        return images.load("sieve", N=20_000)
    return images.load(spec.image)


def build(specs: list[Spec], slice_cycles: int = 20_000, cpus: int = 1) -> Hypervisor:
    hv = Hypervisor(host_memory=f"{4 * len(specs) + 1}M", slice_cycles=slice_cycles, cpus=cpus)
    for i, s in enumerate(specs):
        vm = hv.create_vm(
            f"vm{i}",
            load(s),
            memory="4M",
            mode=s.mode,
            exits=s.exits,
            shares=s.shares,
            reservation=s.reservation,
            limit=s.limit,
        )
        vm.start()
    return hv


def _stats(stats: Any) -> dict[str, Any]:
    """Every counter of a VMStats (wall-clock time left out)."""
    out = {k: v for k, v in vars(stats).items() if k not in ("exits", "host_seconds")}
    out["exits"] = {n: (e.count, e.cycles) for n, e in stats.exits.items()}
    return out


def _metrics(m: Any) -> dict[str, Any]:
    """A metrics snapshot without its wall-clock figures."""
    out = {k: v for k, v in asdict(m).items() if k not in ("exits", "host_seconds")}
    out["exits"] = [(e.reason, e.count, e.cycles) for e in m.exits]
    return out


def state(hv: Hypervisor) -> dict[str, Any]:
    """Everything a run can change, except wall-clock time and the time series."""
    vms = {}
    for vm in hv.vms:
        e = hv._sched[vm]
        a = e.account
        vms[vm.name] = {
            "lifecycle": (vm.state, vm.stop_reason, vm.exit_code, vm.message),
            "clock": (vm.clock_offset, vm.wake_at, vm.guest_cycles, vm.pc),
            "regs": list(vm.regs),
            "st": vm.cpu.st.tolist(),
            "memory": vm.read_guest(0, vm.memory_size),
            "console": vm.console.save(),
            "stats": _stats(vm.stats),
            "metrics": _metrics(vm.metrics()),
            "sched": (e.seq, e.vtime, e.vrem, e.period, e.period_used, e.throttled_until),
            "account": (
                a.mark,
                a.ready_cycles,
                a.limited_cycles,
                a.elapsed_cycles,
                a.active_from,
                a.last_regular,
                a.exits,
                a.seen,
            ),
        }
    return {
        "vms": vms,
        "host": _metrics(hv.metrics()),
        "host exits": {n: (e.count, e.cycles) for n, e in hv._exit_stats.items()},
        "counters": (hv.clock, hv._due, hv.instructions, hv._exits, hv._vclock, hv._seq),
        "cpus": [
            (
                cpu.clock,
                None if cpu.slice is None else cpu.slice.vm.name,
                None if cpu.slice is None else (cpu.slice.left, cpu.slice.begun, cpu.slice.counted),
                None if cpu.last is None else cpu.last.name,
            )
            for cpu in hv._cpus
        ],
        "memory": (hv.memory.mem.tobytes(), hv.memory.dcache.tobytes()),
        "dirty": hv.memory.dirty.tobytes(),
        "regular": hv._host_regular,
        "rows": [{k: v for k, v in row.items() if k != "host_seconds"} for row in hv.rows("vms")],
    }


def series(hv: Hypervisor) -> dict[str, dict[int, tuple[int, ...]]]:
    """Every VM's and the host's time-series points, by clock."""
    out = {vm.name: {p[0]: p for p in hv._sched[vm].account.series._points} for vm in hv.vms}
    out["host"] = {p[0]: p for p in hv._host_series._points}
    return out


def assert_same(single: Hypervisor, split: Hypervisor) -> None:
    one, many = state(single), state(split)
    for name in one["vms"]:  # compare piece by piece first: a failure names what differs
        for key, value in one["vms"][name].items():
            assert many["vms"][name][key] == value, f"VM {name}: {key} differs"
    for key, value in one.items():
        assert many[key] == value, f"{key} differs"
    a, b = series(single), series(split)
    for name, points in a.items():
        assert points, f"no points in the series of {name}"
        missing = sorted(set(points) - set(b[name]))
        assert not missing, f"{name}: the split run has no point at clocks {missing[:5]}"
        assert {c: b[name][c] for c in points} == points, f"{name}: points differ"
    assert len(split._host_series) <= split.history_length  # nothing rolled off


def run_split(specs: list[Spec], chunks: list[int], **kwargs: Any) -> tuple[Hypervisor, Hypervisor]:
    single, split = build(specs, **kwargs), build(specs, **kwargs)
    single.run(cycles=sum(chunks))
    for n in chunks:
        split.run(cycles=n)
    return single, split


# ---- the reported case -----------------------------------------------------------------------
REPRO = [Spec("rogue", "hw-assist", shares=s) for s in (1000, 2000, 4000)]


@pytest.mark.parametrize(
    "chunks",
    [[1_000_000] * 20, [333_333] * 60 + [20], [7] * 3 + [19_999_979]],
    ids=["20x1M", "60x333333", "tiny-first"],
)
def test_three_spinning_vms_split_into_chunks_run_as_one(chunks: list[int]) -> None:
    single, split = run_split(REPRO, chunks)
    assert_same(single, split)
    assert single.clock == split.clock
    assert 20_000_000 <= single.clock < 20_000_000 + single.costs.world_switch + 1_000
    consumed = [vm.stats.consumed_cycles for vm in single.vms]
    assert sum(consumed) == single.clock  # nothing idle: every cycle went to some VM
    assert consumed[1] == pytest.approx(2 * consumed[0], rel=0.01)
    assert consumed[2] == pytest.approx(4 * consumed[0], rel=0.01)


def test_split_sieve_vms_with_both_exit_paths_run_as_one() -> None:
    specs = [
        Spec("sieve", "binary-translation", "jit", 1000),
        Spec("sieve", "trap-and-emulate", "python", 2000),
        Spec("rogue", "binary-translation", "python", 4000),
    ]
    single, split = run_split(specs, [250_001] * 8)
    assert_same(single, split)
    assert single.vm("vm0").stats.translated_pages > 0


def test_a_run_that_ends_inside_a_world_switch_continues_the_slice() -> None:
    specs = [Spec("rogue", "hw-assist"), Spec("rogue", "trap-and-emulate")]
    single = build(specs)
    single.run(cycles=600_000)
    split = build(specs)
    split.run(cycles=20_000)  # the first VM's first slice (it ends past 20_000)
    past = split.clock - 20_000
    split.run(cycles=past + 1)  # the second VM's first slice: its world switch crosses the end
    sl = split._cpus[0].slice
    assert sl is not None and sl.vm.name == "vm1" and sl.begun and not sl.counted
    split.run(cycles=600_000 - 20_000 - past - 1)
    assert_same(single, split)


def test_zero_cycle_runs_change_nothing() -> None:
    single, split = run_split(REPRO, [123_457, 0, 0, 876_543])
    assert_same(single, split)


def test_a_run_returns_its_budget_and_the_clock_never_drifts() -> None:
    hv = build(REPRO)
    c = hv.costs
    worst = c.world_switch + max(c.as_dict().values()) + c.userspace + c.reflect
    due = 0
    for n in [1, 1, 5, 333, 20_000, 1_234_567]:
        assert hv.run(cycles=n) == n
        due += n
        assert due <= hv.clock < due + worst


# ---- a long batch hypercall continued across slices, and across runs -------------------------
def long_batches() -> Any:
    """A paravirtual guest making 5-piece batch hypercalls (csr_set on scratch) in a loop."""
    n = 5 * hc.BATCH_LIMIT
    words = "\n".join(
        f"    .word {hc.HC_CSR_SET}, {CSR_SCRATCH}, {1 << (i % 32)}" for i in range(n)
    )
    return assemble(
        f"""
_start: li   a0, {hc.HC_BATCH}
        la   a1, calls
        li   a2, {n}
        hcall
        addi s0, s0, 1
        j    _start
        .align 4
calls:
{words}
"""
    )


def test_split_runs_that_cut_long_batches_between_pieces_run_as_one() -> None:
    """Runs that end between the pieces of a batch (a continuation in the guest's registers)
    leave everything as one run does, on both exit paths, beside a competing VM."""

    def build_batches() -> Hypervisor:
        hv = Hypervisor(host_memory="2M")
        for name, exits in (("py", "python"), ("jit", "jit")):
            hv.create_vm(name, long_batches(), memory="64K", mode="paravirtual", exits=exits)
        hv.create_vm("spin", images.load("rogue"), memory="1M", mode="hw-assist")
        for vm in hv.vms:
            vm.start()
        return hv

    chunks = [3_001, 1, 777, 40_000, 2_500, 123_457, 9_999, 5_003, 17_777, 11_111, 300_000, 7_919]
    single, split = build_batches(), build_batches()
    single.run(cycles=sum(chunks))
    mid_batch = set()  # VMs seen between two pieces of a batch at a run's end
    for n in chunks:
        split.run(cycles=n)
        mid_batch |= {vm.name for vm in split.vms if vm.regs[4] & hc.BATCH_CONTINUED}
    assert_same(single, split)
    assert mid_batch == {"py", "jit"}
    for name in ("py", "jit"):
        s = single.vm(name).stats
        assert s.hypercalls["batch"] > 10  # pieces: about 5 per batch
        assert int(single.vm(name).regs[12]) >= 2  # batches completed (s0 counts them)


# ---- what lifecycle actions between runs do to the slice in progress -------------------------
def test_pausing_another_vm_between_runs_ends_the_kept_slice() -> None:
    hv = build(REPRO)
    hv.run(cycles=1_000_010)
    kept = hv._cpus[0].slice
    assert kept is not None
    other = next(vm for vm in hv.vms if vm is not kept.vm)
    other.pause()
    hv.run(cycles=0)  # the next run looks, sees a change, decides afresh
    assert hv._cpus[0].slice is None


def test_pause_and_resume_with_no_run_between_keep_the_slice() -> None:
    single, split = build(REPRO), build(REPRO)
    single.run(cycles=2_000_000)
    split.run(cycles=1_000_010)
    vm = split._cpus[0].slice.vm
    vm.pause()
    vm.resume()  # nothing the scheduler sees has changed
    split.run(cycles=2_000_000 - 1_000_010)
    assert_same(single, split)


def test_a_snapshot_ends_the_kept_slice_so_a_copy_runs_on_the_same() -> None:
    hv = build([Spec("rogue", "trap-and-emulate")])
    hv.run(cycles=1_500_000)
    vm = hv.vm("vm0")
    assert hv._cpus[0].slice is not None and hv._cpus[0].slice.vm is vm
    vm.pause()
    vm.snapshot("s")
    assert hv._cpus[0].slice is None


def test_deleting_the_vm_of_the_kept_slice_ends_it() -> None:
    hv = build(REPRO[:2])
    hv.run(cycles=10_000)  # inside the first VM's first slice
    vm = hv.vm("vm0")
    assert hv._cpus[0].slice is not None and hv._cpus[0].slice.vm is vm
    vm.stop()
    vm.delete()
    assert hv._cpus[0].slice is None
    assert hv.run(cycles=100_000) == 100_000
    assert hv.vm("vm1").stats.consumed_cycles > 90_000  # it has the CPU to itself


# ---- any split, any mix ----------------------------------------------------------------------
@st.composite
def mixes(draw: Any, cpus: int = 1) -> list[Spec]:
    specs = []
    reserved = 0.0
    for _ in range(draw(st.integers(1, 3 * cpus))):
        image = draw(st.sampled_from(sorted(KINDS)))
        mode = draw(st.sampled_from(KINDS[image]))
        reservation = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))
        if reserved + reservation > cpus:
            reservation = 0.0
        reserved += reservation
        limit = draw(st.sampled_from([None, None, 0.3, 0.6]))
        if limit is not None and limit < reservation:
            limit = None
        specs.append(
            Spec(
                image,
                mode,
                draw(st.sampled_from(["python", "jit"])),
                draw(st.sampled_from([500, 1000, 3000])),
                reservation,
                limit,
            )
        )
    return specs


@st.composite
def splits(draw: Any) -> list[int]:
    total = draw(st.integers(1, 1_500_000))
    cuts = draw(st.lists(st.integers(0, total), min_size=1, max_size=6))
    points = [0, *sorted(cuts), total]
    return [b - a for a, b in itertools.pairwise(points)]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(specs=mixes(), chunks=splits(), slice_cycles=st.sampled_from([20_000, 20_000, 3_001]))
def test_any_split_of_any_mix_runs_as_one(
    specs: list[Spec], chunks: list[int], slice_cycles: int
) -> None:
    single, split = run_split(specs, chunks, slice_cycles=slice_cycles)
    assert_same(single, split)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    chunks=splits(),
    cpus=st.sampled_from([2, 3]),
    slice_cycles=st.sampled_from([20_000, 3_001]),
)
def test_any_split_of_any_mix_runs_as_one_on_several_cpus(
    data: Any, chunks: list[int], cpus: int, slice_cycles: int
) -> None:
    specs = data.draw(mixes(cpus))
    single, split = run_split(specs, chunks, slice_cycles=slice_cycles, cpus=cpus)
    assert_same(single, split)


# ---- translated_pages is a declared counter, kept wherever the others are ----------------------
def bt_sieve(hv: Hypervisor, name: str = "bt") -> Any:
    vm = hv.create_vm(name, images.load("sieve", N=20_000), memory="4M", mode="binary-translation")
    vm.start()
    hv.run(cycles=100_000)
    vm.pause()
    assert vm.stats.translated_pages > 0
    return vm


def test_translated_pages_starts_at_zero_and_is_in_the_metrics() -> None:
    hv = Hypervisor(host_memory="16M")
    fresh = hv.create_vm("hw", images.load("sieve", N=20_000), memory="4M")
    assert fresh.stats.translated_pages == 0 == fresh.metrics().translated_pages
    vm = bt_sieve(hv)
    assert vm.metrics().translated_pages == vm.stats.translated_pages
    assert "translated_pages" in VM_ROW_KEYS
    row = next(r for r in hv.rows("vms") if r["vm"] == "bt")
    assert row["translated_pages"] == vm.stats.translated_pages


def test_translated_pages_survives_snapshot_clone_and_export(tmp_path: Any) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = bt_sieve(hv)
    pages = vm.stats.translated_pages
    vm.snapshot("s")
    vm.stats.translated_pages = 0
    vm.restore("s")
    assert vm.stats.translated_pages == pages
    assert vm.clone("c", linked=True).stats.translated_pages == pages
    vm.export(tmp_path / "bt.vmlab")
    other = Hypervisor(host_memory="8M")
    assert other.import_vm(tmp_path / "bt.vmlab").stats.translated_pages == pages


def test_compare_shows_translated_pages() -> None:
    hv = Hypervisor(host_memory="16M")
    a = bt_sieve(hv, "a")
    b = hv.create_vm("b", images.load("sieve", N=20_000), memory="4M")
    metrics = {m.name: m for m in compare(a, b).metrics}
    assert metrics["translated pages"].a == a.stats.translated_pages > 0
    assert metrics["translated pages"].b == 0
