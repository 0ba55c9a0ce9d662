"""Hypervisor, snapshot, metrics and compare problems from an audit: one test per problem.

Each test states the old misbehaviour in its docstring: bad input that was accepted or failed
deep inside, a read that changed the schedule, counts that did not add up.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vmlab import CostModel, Hypervisor, Machine, assemble, compare, images
from vmlab.devices.disk import Disk
from vmlab.hypervisor import metrics
from vmlab.hypervisor.costs import MAX_COST
from vmlab.hypervisor.metrics import EXIT_REASONS, WARMUP_INSTRUCTIONS, baseline, overhead
from vmlab.hypervisor.snapshot import MAX_TREE_INDENT, format_tree
from vmlab.ui.dashboard import Dashboard

ROOT = Path(__file__).resolve().parents[1]
SPIN = assemble("_start: addi t0, t0, 1\n j _start\n")


# ---- 1. the cost model ---------------------------------------------------------------------------
def test_every_cost_must_be_a_whole_number_of_cycles_in_range() -> None:
    """Negative costs sent the clock backwards (or hung the jitted path), 2.5 made it a float,
    True counted as 1, "300" and None failed mid-run, 10**30 overflowed."""
    for name in CostModel().as_dict():
        for bad in (2.5, True, "300", None, np.float64(3)):
            with pytest.raises(TypeError, match=rf"CostModel\.{name} must be a whole number"):
                CostModel(**{name: bad})
        for bad in (-1, -(10**6), MAX_COST + 1, 10**30):
            with pytest.raises(ValueError, match=rf"CostModel\.{name} must be from 0 to"):
                CostModel(**{name: bad})
        with pytest.raises(ValueError, match=rf"CostModel\.{name}"):
            dataclasses.replace(CostModel(), **{name: -300})
        edge = (
            CostModel(**{name: 0}),
            CostModel(**{name: MAX_COST}),
            CostModel(**{name: np.int64(7)}),
        )
        assert [getattr(c, name) for c in edge] == [0, MAX_COST, 7]
        assert type(getattr(edge[2], name)) is int  # stored as a plain int


# ---- 2. reading metrics never changes the schedule --------------------------------------------
def test_reading_a_vms_metrics_before_a_run_does_not_change_the_schedule() -> None:
    """The scheduler's tie-breaking order was handed out on first sight, so ``hv.metrics(b)``
    before the first run made b the older VM: a and b swapped their instruction counts."""

    def run(peek: Any) -> list[tuple[str, int, int, int]]:
        hv = Hypervisor(host_memory="4M")
        a = hv.create_vm("a", SPIN, memory="64K")
        b = hv.create_vm("b", SPIN, memory="64K")
        peek(hv, b)
        a.start()
        b.start()
        hv.run(cycles=50_000)  # two and a half slices: the VM that goes first gets one more
        return [
            (v.name, v.stats.instructions, v.stats.guest_cycles, v.stats.slices) for v in hv.vms
        ]

    plain = run(lambda hv, b: None)
    assert plain[0][3] == 2 and plain[1][3] == 1  # a, created first, runs first
    peeks = {
        "hv.metrics(b)": lambda hv, b: hv.metrics(b),
        "b.metrics()": lambda hv, b: b.metrics(),
        "hv.series(b)": lambda hv, b: hv.series(b),
        "hv.samples(b)": lambda hv, b: hv.samples(b),
        "hv.rows('vms')": lambda hv, b: hv.rows("vms"),
    }
    for what, peek in peeks.items():
        assert run(peek) == plain, what


# ---- 3. snapshot(incremental=) ----------------------------------------------------------------
def test_snapshot_incremental_takes_only_a_real_bool(tmp_path: Path) -> None:
    """``incremental="no"`` and ``1`` were taken as True (and the export could not be imported),
    ``np.True_`` broke the export's JSON, None silently made a full snapshot."""
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("a", images.load("hello"), memory="64K")
    vm.snapshot("base")
    for bad in ("no", 1, 0, None, "False"):
        with pytest.raises(TypeError, match="incremental must be True or False, not"):
            vm.snapshot("x", incremental=bad)  # type: ignore[arg-type]
    assert [s.name for s in vm.snapshots] == ["base"]  # nothing was taken
    snap = vm.snapshot("x", incremental=np.True_)  # a numpy bool is a bool: stored as one
    assert snap.incremental is True
    vm.export(tmp_path / "a.vmlab")
    again = Hypervisor(host_memory="4M").import_vm(tmp_path / "a.vmlab")
    assert [(s.name, s.incremental) for s in again.snapshots] == [("base", False), ("x", True)]


# ---- 4. format_tree ------------------------------------------------------------------------------
def test_a_deep_snapshot_chain_draws_in_linear_size_in_text_and_dashboard() -> None:
    """A 1200-deep chain raised RecursionError; the text grew quadratically ('  ' * depth: 263 KB
    at 500 levels), and the dashboard's snapshot list did the same."""
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("a", images.load("hello"), memory="64K")
    for i in range(1200):
        vm.snapshot(f"s{i}")
    text = format_tree(vm)
    lines = text.splitlines()
    assert len(lines) == 1200 and lines[-1].endswith(" *")
    assert lines[1] == "  s1 (incremental, 0 pages)"  # shallow levels: as before
    width = 2 * MAX_TREE_INDENT + len("[1199] s1199 (incremental, 0 pages) *")
    assert max(map(len, lines)) == width  # deep ones stop indenting and show their depth
    assert lines[-1] == "  " * MAX_TREE_INDENT + "[1199] s1199 (incremental, 0 pages) *"
    d = Dashboard(hv, autorun=False)
    d.select("a")
    labels = [label for label, _ in d.snapshot_select.options]
    assert len(labels) == 1200 and max(map(len, labels)) < 100


def test_format_tree_takes_only_a_vm() -> None:
    """``format_tree(5)`` / ``format_tree("a")`` / a Snapshot raised raw AttributeErrors."""
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("a", images.load("hello"), memory="64K")
    snap = vm.snapshot("s")
    for bad, kind in ((5, "int"), ("a", "str"), (hv, "Hypervisor"), (None, "NoneType")):
        with pytest.raises(TypeError, match=f"format_tree takes a VM, not {kind}$"):
            format_tree(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"not Snapshot \(.*format_tree\(snap\.vm\)\)"):
        format_tree(snap)  # type: ignore[arg-type]


# ---- 5. CPU shares ---------------------------------------------------------------------------------
def test_cpu_share_counts_only_time_on_this_host_after_clone_and_import(tmp_path: Path) -> None:
    """A clone or an imported VM brought its consumed and elapsed cycles along but not its ready
    time: two VMs sharing one CPU showed 75 % each (shares summing to 1.5)."""
    old = Hypervisor(host_memory="4M")
    a = old.create_vm("a", SPIN, memory="64K")
    a.start()
    old.run(cycles=2_000_000)  # alone: it used the whole CPU there
    a.pause()
    a.export(tmp_path / "a.vmlab")
    b = a.clone("b")  # on the old host too
    a.resume()
    b.resume()
    old.run(cycles=2_000_000)
    shares = {r["vm"]: r["cpu_share"] for r in old.rows("vms")}
    assert shares["b"] == pytest.approx(0.5, abs=0.01)  # half the CPU since it appeared
    assert shares["a"] == pytest.approx(0.75, abs=0.01)  # all of it for 2M, then half for 2M
    hv = Hypervisor(host_memory="4M")
    x = hv.import_vm(tmp_path / "a.vmlab", name="x")
    y = x.clone("y")  # x and y appear on this host together, with a's history
    x.resume()
    y.resume()
    hv.run(cycles=2_000_000)
    rows = hv.rows("vms")
    assert all(r["cpu_share"] == pytest.approx(0.5, abs=0.01) for r in rows), rows
    assert sum(r["cpu_share"] for r in rows) <= hv.cpus
    m = x.metrics()
    assert m.consumed_cycles > m.consumed_on_host  # its counters travel with it, the share not
    assert m.elapsed_cycles == sum(m.time_split.values())  # and the identity still holds


# ---- 6. overhead against the right baseline --------------------------------------------------
def test_overhead_refuses_a_baseline_of_another_image_memory_or_strictness() -> None:
    """``overhead`` and ``vm.overhead`` compared with a baseline of any image, and
    ``overhead(fib, memory="8M", reference=ref_1M)`` silently ran with 1M."""
    fib, sieve = images.load("fib", N=15), images.load("sieve", N=2000)
    ref = baseline(fib, memory="1M")
    with pytest.raises(ValueError, match=r"runs image sha256:.*baseline was made from image"):
        overhead(sieve, reference=ref)
    assert ref.image_digest == metrics.image_digest(fib) != metrics.image_digest(sieve)
    assert (ref.memory, ref.strict) == (1 << 20, True)
    with pytest.raises(ValueError, match="has 8M of memory, but the baseline ran with 1M"):
        overhead(fib, memory="8M", reference=ref)
    with pytest.raises(ValueError, match="has strict=False, but the baseline ran with strict=True"):
        overhead(fib, strict=False, reference=ref)
    assert overhead(fib, reference=ref).baseline_cycles == ref.cycles  # (memory: the baseline's)
    hv = Hypervisor(host_memory="8M")
    vm = hv.create_vm("v", sieve, memory="1M")
    vm.start()
    hv.run()
    with pytest.raises(ValueError, match=r"VM 'v' \(stopped\) runs image sha256:"):
        vm.overhead(ref)
    big = hv.create_vm("big", fib, memory="2M")
    big.start()
    hv.run()
    with pytest.raises(ValueError, match=r"VM 'big' \(stopped\) has 2M of memory.* with 1M"):
        big.overhead(ref)


def test_overhead_and_baseline_check_their_argument_types_and_say_why_a_run_did_not_end() -> None:
    """``reference="x"``, ``vm.overhead(None)``, ``repeat="2"/2.5/True`` and ``strict="no"`` gave
    raw errors or were accepted; a program that did not finish said "(budget: )"."""
    fib = images.load("fib", N=10)
    ref = baseline(fib)
    with pytest.raises(TypeError, match=r"reference must be a Baseline .*not str"):
        overhead(fib, reference="x")  # type: ignore[arg-type]
    vm = Hypervisor(host_memory="8M").create_vm("v", fib)
    with pytest.raises(TypeError, match=r"reference must be a Baseline .*not NoneType"):
        vm.overhead(None)  # type: ignore[arg-type]
    for bad in ("2", 2.5, True):
        with pytest.raises(TypeError, match=f"repeat must be a whole number >= 1, not {bad!r}"):
            baseline(fib, repeat=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="repeat must be a whole number"):
            overhead(fib, reference=ref, repeat=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="strict must be True or False, not 'no'"):
        baseline(fib, strict="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="strict must be True or False, not 'no'"):
        overhead(fib, strict="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(budget: it was still running after max_instructions="):
        baseline(SPIN, memory="64K", max_instructions=100_000)


# ---- 7. the first baseline does not time the JIT -----------------------------------------------
def test_baseline_and_overhead_make_one_untimed_warm_up_run_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first ``baseline()`` in a process timed the JIT loading the core (time_ratio 0.02)."""
    budgets: list[int | None] = []
    machine_run = Machine.run

    def counting_run(self: Machine, max_instructions: int | None = None, **kw: Any) -> Any:
        budgets.append(max_instructions)
        return machine_run(self, max_instructions=max_instructions, **kw)

    monkeypatch.setattr(Machine, "run", counting_run)
    fib = images.load("fib", N=10)
    ref = baseline(fib, repeat=2, max_instructions=10**6)
    assert budgets == [WARMUP_INSTRUCTIONS, 10**6, 10**6]  # the warm-up, then the timed runs
    assert ref.instructions == baseline(fib).instructions  # the warm-up changes no figure
    runs: list[dict[str, Any]] = []
    hv_run = Hypervisor.run

    def counting_hv_run(self: Hypervisor, **kw: Any) -> int:
        runs.append(kw)
        return hv_run(self, **kw)

    monkeypatch.setattr(Hypervisor, "run", counting_hv_run)
    overhead(fib, reference=ref, repeat=2)
    assert runs[0] == {"instructions": WARMUP_INSTRUCTIONS} and len(runs) == 3


# ---- 8. exit names -----------------------------------------------------------------------------------
def test_an_unknown_exit_name_is_an_error_listing_the_names() -> None:
    """``exit_count("priviledged")`` and ``exit_count(42)`` returned 0; a list raised a raw
    TypeError; ``metrics().exit("priviledged")`` returned a line of zeros."""
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("v", images.load("hello"), memory="64K", mode="trap-and-emulate")
    vm.start()
    hv.run()
    assert vm.stats.exit_count("mmio") > 0 and vm.stats.exit_count("npf") == 0  # not happened: 0
    for reason in EXIT_REASONS:
        assert vm.stats.exit_count(reason) == vm.metrics().exit(reason).count
    assert "world-switch" in EXIT_REASONS and "privileged" in EXIT_REASONS
    with pytest.raises(ValueError, match=r"unknown exit reason 'priviledged' \(did you mean "):
        vm.stats.exit_count("priviledged")
    with pytest.raises(ValueError, match=r"unknown exit reason 'priviledged'.*world-switch"):
        vm.metrics().exit("priviledged")
    for bad in (42, ["mmio"], None):
        with pytest.raises(ValueError, match=r"an exit reason is a name .*exit reasons: budget"):
            vm.stats.exit_count(bad)  # type: ignore[arg-type]
    # every name the notebooks, the tests and vmlab itself ask for is a known one
    pattern = re.compile(r"""(?:exit_count|\.exit)\(["']([a-z-]+)["']\)""")
    used: set[str] = set()
    for path in [
        *ROOT.glob("notebooks/*.ipynb"),
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("vmlab/**/*.py"),
    ]:
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        used |= set(pattern.findall(text))
    assert {"privileged", "guest-trap", "world-switch", "translate", "npf"} <= used
    assert used - {"priviledged"} <= set(EXIT_REASONS)  # (this file misspells one on purpose)


# ---- 9. compare and disks -------------------------------------------------------------------------
def test_compare_counts_disk_sectors_on_their_own_and_says_how_many_more() -> None:
    """The summary said "128 device values", then "devices: same" and "disk: 128 sectors
    differ"; the HTML listed sectors 0-19 with no "... and N more"."""
    hv = Hypervisor(host_memory="4M")
    a = hv.create_vm("a", images.load("hello"), memory="64K", disk=Disk.from_bytes(b"\1" * 65536))
    b = hv.create_vm("b", images.load("hello"), memory="64K", disk=Disk.memory(65536))
    cmp = compare(a, b)
    assert cmp.summary() == "VM 'a' and VM 'b' differ: 128 disk sectors"
    assert cmp.counts()["devices"] == 0 and cmp.counts()["disk_sectors"] == 128
    text = str(cmp)
    assert "devices: same" in text
    assert "disk: 128 sectors differ: 0, 1, 2," in text and ", 19, ... and 108 more" in text
    html = cmp.to_html()
    assert "disk sectors <small>(128 differ)</small>" in html and "19, ... and 108 more" in html
    b.disk.data[:] = 1
    b.disk.data[512 * 7] = 0
    assert compare(a, b).summary() == "VM 'a' and VM 'b' differ: 1 disk sector"


# ---- 10. chain of a deleted snapshot -------------------------------------------------------------
def test_the_chain_of_a_deleted_snapshot_says_it_was_deleted() -> None:
    """``chain()`` of a deleted incremental snapshot hit a bare assert."""
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("a", images.load("hello"), memory="64K")
    vm.snapshot("s1")
    s2 = vm.snapshot("s2")
    s2.delete()
    with pytest.raises(ValueError, match=r"^snapshot 's2' of VM 'a' was deleted$"):
        s2.chain()
    with pytest.raises(ValueError, match=r"^snapshot 's2' of VM 'a' was deleted$"):
        vm.restore(s2)  # (the same words as restore)


# ---- 11. samples(after=numpy int) ----------------------------------------------------------------
def test_samples_after_takes_the_series_own_numpy_clock_values() -> None:
    """``hv.samples(vm, after=np.int64(...))`` was refused, though the series' clock column is
    int64."""
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("v", SPIN, memory="64K")
    vm.start()
    for _ in range(5):
        hv.run(cycles=200_000)  # a point at the end of each run
    clock = hv.series(vm).columns()["clock"]
    assert isinstance(clock[-3], np.int64)
    newest = hv.samples(vm, after=clock[-3])
    assert [p.clock for p in newest] == clock[-2:].tolist()
    assert hv.samples(vm, after=np.int32(-1)) == hv.samples(vm)
    for bad in (True, np.True_, 1.5, np.float64(2), "5"):
        with pytest.raises(TypeError, match="after must be a host cycle"):
            hv.samples(vm, after=bad)  # type: ignore[arg-type]


# ---- 12. hypervisor settings after construction ------------------------------------------------
def test_hypervisor_settings_are_checked_when_changed_and_cpus_is_fixed() -> None:
    """``hv.slice_cycles = -1``, ``hv.sample_cycles = "x"``, ``hv.cpus = 8`` (one CPU modelled),
    ``hv.costs = "x"`` were all accepted and broke (or silently changed nothing) later."""
    hv = Hypervisor(host_memory="4M", cpus=2)
    vm = hv.create_vm("v", SPIN, memory="64K")
    bad: list[tuple[str, object, type[Exception], str]] = [
        ("slice_cycles", -1, ValueError, "slice_cycles must be a positive integer"),
        ("slice_cycles", 0, ValueError, "slice_cycles must be a positive integer"),
        ("slice_cycles", 1.5, ValueError, "slice_cycles must be a positive integer"),
        ("sample_cycles", "x", ValueError, "sample_cycles must be a positive integer"),
        ("sample_cycles", 0, ValueError, "sample_cycles must be a positive integer"),
        ("history_length", 0, ValueError, "history_length must be a positive integer"),
        ("costs", "x", TypeError, "costs must be a CostModel, not str"),
        ("cpus", 8, AttributeError, r"cannot set hv.cpus to 8: .* \(it has 2\)"),
        ("UNSAFE_unchecked_hypercall_buffers", "False", TypeError, "must be True or False"),
    ]
    before = {name: getattr(hv, name) for name, *_ in bad}
    for name, value, error, message in bad:
        with pytest.raises(error, match=message):
            setattr(hv, name, value)
    assert {name: getattr(hv, name) for name in before} == before  # nothing changed
    assert hv.cpus == 2 and hv.metrics().cpus == 2
    hv.slice_cycles, hv.sample_cycles = 5_000, np.int64(50_000)  # legal changes still work
    hv.costs = CostModel(world_switch=0)
    assert (hv.slice_cycles, hv.sample_cycles, hv.costs.world_switch) == (5_000, 50_000, 0)
    vm.start()
    for _ in range(12):
        hv.run(cycles=100_000)  # a point at the end of each run
    assert len(hv.series(vm)) >= 12
    hv.history_length = 5  # resizes the series that exist now, keeping the newest points
    assert len(hv.series(vm)) == 5 and len(hv.series()) <= 5
    assert hv.series(vm).last()["clock"] == hv.clock
