"""A host with several CPUs: each VM's one vCPU runs on one CPU at a time, shares divide them all.

Every figure is modelled host cycles, so the checks are exact or within a slice's worth; nothing
is timed on the wall clock. The guest cannot tell how many CPUs the host has: the same images
give the same answers, and a VM's time never goes back when it moves between CPUs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vmlab import Hypervisor, assemble, images
from vmlab.hypervisor import VM
from vmlab.hypervisor.hypervisor import MAX_CPUS
from vmlab.hypervisor.metrics import entitlements
from vmlab.ui import Dashboard

SPIN = assemble("_start: addi t0, t0, 1\n j _start\n")  # always busy
# reads its cycle counter in a loop and halts (the VM stops) if it ever went back
MONOTONE = assemble(
    """
_start: csrr s0, cycle
loop:   csrr t0, cycle
        bltu t0, s0, back
        mv   s0, t0
        j    loop
back:   halt
"""
)
KERNEL = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}
MODES = ("trap-and-emulate", "binary-translation", "paravirtual", "hw-assist")


def spinners(hv: Hypervisor, *shares: int, **kw: object) -> list[VM]:
    """Started spinning VMs named a, b, c, ... with these shares."""
    vms = [
        hv.create_vm(chr(ord("a") + i), SPIN, memory="64K", shares=s, **kw)  # type: ignore[arg-type]
        for i, s in enumerate(shares)
    ]
    for vm in vms:
        vm.start()
    return vms


def cpu_clocks(hv: Hypervisor) -> list[int]:
    """Each CPU's own clock."""
    return [cpu.clock for cpu in hv._cpus]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None, MAX_CPUS + 1])
def test_cpus_must_be_a_whole_number_in_range(bad: object) -> None:
    with pytest.raises(ValueError, match=r"cpus must be an integer from 1 to \d+"):
        Hypervisor(host_memory="1M", cpus=bad)  # type: ignore[arg-type]


def test_two_busy_vms_on_two_cpus_each_get_a_whole_cpu() -> None:
    hv = Hypervisor(host_memory="4M", cpus=2)
    a, b = spinners(hv, 1000, 4000)  # shares do not matter: there is a CPU for each
    assert hv.run(cycles=10_000_000) == 10_000_000
    m = hv.metrics()
    assert m.cpus == 2 and m.idle_cycles == 0 and m.utilization == 1.0
    for vm in (a, b):
        vm_m = vm.metrics()
        assert vm_m.entitlement == 1.0
        assert vm_m.cpu_share == pytest.approx(1.0, abs=1e-3)
        assert vm_m.ready_cycles <= 2 * hv.costs.world_switch
    assert m.cpu_cycles == sum(cpu_clocks(hv))
    assert hv.clock == min(cpu_clocks(hv)) >= 10_000_000


def test_a_vm_never_gets_more_than_one_cpu() -> None:
    hv = Hypervisor(host_memory="4M", cpus=3)
    (a,) = spinners(hv, 1000)
    hv.run(cycles=5_000_000)
    assert a.metrics().consumed_cycles <= hv.clock + 1_000  # one CPU's worth at most
    assert a.metrics().cpu_share == pytest.approx(1.0, abs=1e-3)
    m = hv.metrics()
    assert m.idle_cycles >= 2 * 5_000_000  # the two other CPUs had nothing to do
    assert m.utilization == pytest.approx(1 / 3, abs=1e-3)


@pytest.mark.parametrize(
    ("cpus", "shares", "want"),
    [
        (2, (1000, 1000, 2000), (0.5, 0.5, 1.0)),
        (2, (1000, 2000, 3000, 4000), (0.2, 0.4, 0.6, 0.8)),
        (2, (1000, 1000, 8000), (0.5, 0.5, 1.0)),  # capped at one CPU: the rest goes round
        (3, (1000, 1000, 1000, 1000, 2000), (0.5, 0.5, 0.5, 0.5, 1.0)),
    ],
)
def test_the_cpus_divide_by_shares_but_no_vm_gets_more_than_one(
    cpus: int, shares: tuple[int, ...], want: tuple[float, ...]
) -> None:
    hv = Hypervisor(host_memory="4M", cpus=cpus)
    vms = spinners(hv, *shares)
    hv.run(cycles=40_000_000)
    assert hv.metrics().idle_cycles == 0  # every CPU always had a VM to run
    for vm, share in zip(vms, want, strict=True):
        assert vm.metrics().entitlement == pytest.approx(share)
        assert vm.metrics().cpu_share == pytest.approx(share, abs=0.02), vm.name
    assert sum(entitlements(hv.vms, cpus).values()) == pytest.approx(cpus)


def test_a_limit_holds_on_several_cpus() -> None:
    hv = Hypervisor(host_memory="4M", cpus=2)
    a, b, c = spinners(hv, 1000, 1000, 1000)
    hv.set_resources(c, limit=0.25)
    hv.run(cycles=20_000_000)
    assert c.metrics().cpu_share <= 0.25 + 1e-3
    assert c.metrics().limited_cycles > 0
    for vm in (a, b):  # the rest is theirs: 1.75 CPUs, shared evenly
        assert vm.metrics().cpu_share == pytest.approx(0.875, abs=0.02)


def test_a_reservation_is_met_on_several_cpus() -> None:
    hv = Hypervisor(host_memory="4M", cpus=2)
    vms = spinners(hv, 100, 4000, 4000, 4000, 4000)
    hv.set_resources(vms[0], reservation=0.6)
    hv.run(cycles=20_000_000)
    assert vms[0].metrics().entitlement == pytest.approx(0.6)
    assert vms[0].metrics().cpu_share >= 0.6 - 0.01
    for vm in vms[1:]:
        assert vm.metrics().cpu_share == pytest.approx(0.35, abs=0.02)


def test_reservations_fit_in_all_the_cpus_and_each_in_one() -> None:
    hv = Hypervisor(host_memory="4M", cpus=2)
    a = hv.create_vm("a", SPIN, memory="64K", reservation=0.8)
    hv.create_vm("b", SPIN, memory="64K", reservation=0.8)  # 1.6 of 2 CPUs: fits
    with pytest.raises(ValueError, match=r"host's 2 CPUs are already 1\.60 reserved"):
        hv.create_vm("c", SPIN, memory="64K", reservation=0.5)
    assert [vm.name for vm in hv.vms] == ["a", "b"]  # nothing made
    with pytest.raises(ValueError, match=r"fraction of the CPU in 0\.\.1"):
        hv.create_vm("c", SPIN, memory="64K", reservation=1.2)  # a VM has one vCPU
    hv.create_vm("c", SPIN, memory="64K", reservation=0.4)  # 2.0: the host is fully reserved
    with pytest.raises(ValueError, match=r"host's 2 CPUs are already 1\.20 reserved"):
        hv.set_resources(a, reservation=0.9)
    assert a.reservation == 0.8  # unchanged
    hv.set_resources(a, reservation=0.5)
    assert a.reservation == 0.5


def _guests(hv: Hypervisor) -> list[VM]:
    """The minikernel in every mode, sieve and hello: a mix of kernel-heavy and CPU-bound work."""
    vms = [
        hv.create_vm(
            mode,
            images.load("minikernel", PV=int(mode == "paravirtual"), **KERNEL),
            memory="2M",
            mode=mode,
        )
        for mode in MODES
    ]
    vms.append(hv.create_vm("sieve", images.load("sieve", N=20_000), memory="1M"))
    vms.append(hv.create_vm("hello", images.load("hello"), memory="1M", mode="trap-and-emulate"))
    for vm in vms:
        vm.start()
    return vms


def _answer(vm: VM) -> object:
    """What a guest computed: all its output for a program; for a kernel, what its processes said.

    A kernel's interleaving of processes and its interrupt counts depend on how much host time
    passes while it waits for the CPU (fewer competitors per CPU: fewer timer ticks per unit of
    work), as on real hardware; the answers do not.
    """
    if vm.name in ("sieve", "hello"):
        return vm.console.output, vm.stats.instructions
    lines = vm.console.output.splitlines()
    return sorted(line for line in lines if line[:2] != "[k"), lines[-2:]


def test_guests_give_the_same_answers_on_one_cpu_and_on_several() -> None:
    results = {}
    for cpus in (1, 2, 3):
        hv = Hypervisor(host_memory="32M", cpus=cpus)
        vms = _guests(hv)
        hv.run()  # until every guest has powered off
        assert all(vm.state == "stopped" for vm in vms), [(vm.name, vm.state) for vm in vms]
        results[cpus] = (hv.clock, {vm.name: (vm.exit_code, _answer(vm)) for vm in vms})
    one = results[1][1]
    assert all(code == 0 for code, _ in one.values())
    assert one["hw-assist"][1][1][0] == "[kernel] all 7 processes ended as expected"
    for cpus in (2, 3):
        assert results[cpus][1] == one, f"{cpus} CPUs"
    # the same work spread over more CPUs takes less host time
    assert results[2][0] < 0.75 * results[1][0]
    assert results[3][0] < results[2][0]


def test_several_cpus_run_deterministically() -> None:
    def run() -> tuple[object, ...]:
        hv = Hypervisor(host_memory="32M", cpus=2)
        vms = _guests(hv)
        hv.run(cycles=3_000_000)
        return (
            cpu_clocks(hv),
            [{k: v for k, v in r.items() if k != "host_seconds"} for r in hv.rows("vms")],
            [vm.console.output for vm in vms],
            hv.memory.mem.tobytes(),
        )

    assert run() == run()


def test_accounting_adds_up_on_several_cpus() -> None:
    hv = Hypervisor(host_memory="32M", cpus=3)
    vms = _guests(hv)
    for _ in range(7):
        hv.run(cycles=700_001)
        m = hv.metrics()
        assert m.guest_cycles + m.hypervisor_cycles + m.idle_cycles == sum(cpu_clocks(hv))
        assert sum(vm.stats.guest_cycles for vm in vms) == m.guest_cycles
        for vm in vms:
            v = vm.metrics()
            parts = v.consumed_cycles + v.idle_cycles + v.ready_cycles + v.limited_cycles
            assert parts == v.elapsed_cycles, vm.name
            assert v.consumed_cycles <= v.elapsed_cycles
    assert len(hv.series()) > 3 and all(len(hv.series(vm)) > 3 for vm in vms)
    clocks = [s.clock for s in hv.samples(vms[0])]
    assert clocks == sorted(clocks)  # a VM's series runs on its own time, forward


def test_a_vm_moving_between_cpus_never_sees_its_time_go_back(tmp_path: Path) -> None:
    hv = Hypervisor(host_memory="8M", cpus=2)
    watchers = [hv.create_vm(f"w{i}", MONOTONE, memory="64K") for i in range(3)]
    for vm in watchers:
        vm.start()
    seen = {vm.name: vm.guest_clock for vm in watchers}
    for step in range(40):  # uneven runs, pauses and a snapshot restore along the way
        hv.run(cycles=37_003 + 1_000 * step)
        w = watchers[step % 3]
        if step % 5 == 1:
            w.pause()
            hv.run(cycles=10_000)
            w.resume()
        if step == 20:
            w.pause()
            snap = w.snapshot("s")
            w.resume()
            hv.run(cycles=50_000)
            w.pause()
            w.restore(snap)
            seen[w.name] = w.guest_clock
            w.resume()
        for vm in watchers:
            assert vm.state == "running", f"{vm.name}: {vm.message}"  # its counter never went back
            assert vm.guest_clock >= seen[vm.name]
            seen[vm.name] = vm.guest_clock
    path = tmp_path / "w0.vmlab"
    watchers[0].pause()
    watchers[0].export(path)
    other = Hypervisor(host_memory="2M", cpus=1)  # a VM moves between hosts of any size
    moved = other.import_vm(path)
    assert moved.guest_clock == watchers[0].guest_clock
    moved.resume()
    other.run(cycles=500_000)
    assert moved.state == "running"


def test_dashboard_charts_the_host_over_all_its_cpus() -> None:
    d = Dashboard(host_memory="4M", cpus=2, autorun=False)
    assert d.hv.cpus == 2
    spinners(d.hv, 1000)
    d.refresh()
    for _ in range(3):
        d.hv.run(cycles=2_000_000)
        d.refresh()
    d.overhead_chart.flush()
    data = d.overhead_chart.source.data
    assert len(data["clock"]) == 3
    for g, h, i in zip(data["guest"], data["hypervisor"], data["idle"], strict=True):
        assert g + h + i == pytest.approx(1.0)  # a fraction of all the host's CPU time
        assert i == pytest.approx(0.5, abs=0.01)  # one VM, two CPUs: one of them idles
    assert "2 CPUs" in d.host_html.value


def test_an_instruction_budget_counts_the_vms_on_every_cpu() -> None:
    hv = Hypervisor(host_memory="4M", cpus=2)
    a, b = spinners(hv, 1000, 1000)
    hv.run(instructions=100_000)
    ran = a.stats.instructions + b.stats.instructions
    assert ran == hv.instructions
    assert 100_000 <= ran <= 100_001
    assert a.stats.instructions > 0 and b.stats.instructions > 0  # both CPUs ran


def test_deleting_a_vm_whose_cpu_is_ahead_leaves_the_others_running() -> None:
    hv = Hypervisor(host_memory="4M", cpus=2)
    a, b, c = spinners(hv, 1000, 1000, 1000)
    hv.run(cycles=1_000_003)
    ahead = max(hv._cpus, key=lambda cpu: cpu.clock)
    gone = ahead.slice.vm if ahead.slice is not None else ahead.held
    assert gone is not None
    gone.stop()
    gone.delete()
    assert all(
        cpu.held is not gone and (cpu.slice is None or cpu.slice.vm is not gone) for cpu in hv._cpus
    )
    rest = [vm for vm in (a, b, c) if vm is not gone]
    before = [vm.stats.consumed_cycles for vm in rest]
    hv.run(cycles=2_000_000)
    for vm, was in zip(rest, before, strict=True):  # two VMs, two CPUs: a CPU each
        assert vm.stats.consumed_cycles - was == pytest.approx(2_000_000, rel=0.01)
