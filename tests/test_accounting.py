"""Accounting: counters that add up, exits like ``perf kvm stat``, overhead against bare metal, rows.

Only modelled cycles are compared; host (wall-clock) times are checked for being present and
non-negative, never against a threshold.
"""

from __future__ import annotations

import pytest

from vmlab import Hypervisor, assemble, images
from vmlab.hypervisor import MODES, VM
from vmlab.hypervisor.metrics import (
    EXIT_ROW_KEYS,
    HOST_SERIES_KEYS,
    SERIES_ROW_KEYS,
    VM_ROW_KEYS,
    WORLD_SWITCH,
    HostMetrics,
    Series,
    VMMetrics,
    baseline,
    entitlements,
    format_exits,
    overhead,
)

SMALL_KERNEL = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}
SPIN = assemble("_start: addi t0, t0, 1\n j _start\n")


def minikernel():
    """The small minikernel the overhead figures use."""
    return images.load("minikernel", **SMALL_KERNEL)


def busy_host(mode: str, exits: str) -> tuple[Hypervisor, list[VM]]:
    """A host with a guest kernel, a sieve, a spinner and a deleted VM, run for a while."""
    hv = Hypervisor(host_memory="32M")
    gone = hv.create_vm("gone", SPIN, memory="64K", mode=mode, exits=exits)
    vms = [
        hv.create_vm("k", minikernel(), memory="4M", mode=mode, exits=exits),
        hv.create_vm("s", images.load("sieve", N=30_000), memory="1M", mode=mode, exits=exits),
        hv.create_vm("spin", SPIN, memory="64K", mode=mode, exits=exits, limit=0.2),
    ]
    for vm in [gone, *vms]:
        vm.start()
    hv.run(cycles=3_000_000)
    gone.stop()
    gone.delete()  # its cycles and exits stay in the host's totals
    hv.run(cycles=60_000_000)
    return hv, vms


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", ["trap-and-emulate", "binary-translation", "hw-assist"])
def test_counters_add_up(mode: str, exits: str) -> None:
    hv, vms = busy_host(mode, exits)
    host = hv.metrics()
    assert isinstance(host, HostMetrics)
    # host: guest + hypervisor + idle = elapsed host cycles; exits = hypervisor cycles
    assert host.guest_cycles + host.hypervisor_cycles + host.idle_cycles == host.clock
    assert host.exit_cycles == host.hypervisor_cycles
    assert host.guest_cycles > 0 and host.hypervisor_cycles > 0 and host.idle_cycles >= 0
    assert host.instructions > sum(vm.stats.instructions for vm in vms)  # "gone" counts too
    assert host.exit_count > sum(vm.metrics().exit_count for vm in vms)
    for vm in vms:
        got = vm.metrics()
        # a VM's powered-on time splits exactly; its exits add up to its hypervisor cycles
        assert sum(got.time_split.values()) == got.elapsed_cycles
        assert got.exit_cycles == got.hypervisor_cycles
        assert got.consumed_cycles == got.guest_cycles + got.hypervisor_cycles
        assert got.memory_used == got.memory_size  # nothing shared here
    assert vms[0].state == "stopped" and vms[1].state == "stopped"  # both ran to the end
    k, s, spin = (vm.metrics() for vm in vms)
    assert k.elapsed_cycles < hv.clock and k.ready_cycles > 0 and s.ready_cycles > 0
    assert spin.elapsed_cycles == hv.clock and spin.limited_cycles > 0


def test_counters_still_add_up_after_snapshots_restores_and_clones() -> None:
    # a VM's accounting travels with it (a restore rolls it back, a clone inherits it); the
    # host's counts only what happened on the host, and never goes back
    hv = Hypervisor(host_memory="32M")
    vm = hv.create_vm("k", minikernel(), memory="4M", mode="trap-and-emulate")
    spin = hv.create_vm("s", SPIN, memory="64K")
    vm.start()
    spin.start()
    hv.run(cycles=3_000_000)
    vm.pause()
    snap = vm.snapshot("early")
    vm.resume()
    hv.run(cycles=3_000_000)
    before = hv.metrics()
    vm.pause()
    vm.restore(snap)
    twin = vm.clone("twin", linked=True)
    vm.resume()
    twin.resume()
    hv.run(cycles=3_000_000)
    host = hv.metrics()
    assert host.guest_cycles + host.hypervisor_cycles + host.idle_cycles == host.clock
    assert host.exit_cycles == host.hypervisor_cycles
    assert host.instructions >= before.instructions and host.exit_count >= before.exit_count
    for each in (vm, spin, twin):
        got = each.metrics()
        assert sum(got.time_split.values()) == got.elapsed_cycles
        assert got.exit_cycles == got.hypervisor_cycles


def test_the_guest_sees_exactly_the_host_time_pass() -> None:
    # the guest's cycle counter runs with the host clock: it never gets ahead of it (what the
    # hypervisor handles costs guest-visible time, and nothing is counted twice)
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("k", minikernel(), memory="4M", mode="trap-and-emulate")
    other = hv.create_vm("s", SPIN, memory="64K")
    vm.start()
    other.start()
    for _ in range(40):
        hv.run(cycles=300_000)
        assert vm.state == "running"  # (its counter lags while the other VM runs or it waits)
        assert vm.guest_cycles <= hv.clock - vm.clock_offset


def test_exits_are_counted_by_reason_with_cycles_and_host_time() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("k", minikernel(), memory="4M", mode="trap-and-emulate")
    vm.start()
    hv.run()
    got = vm.metrics()
    costs = hv.costs
    priv = got.exit("privileged")
    assert priv.count == vm.stats.exit_count("privileged") > 1000
    assert priv.cycles == priv.count * (costs.trap + costs.userspace)
    assert priv.mean_cycles == costs.trap + costs.userspace
    assert priv.host_seconds > 0 and priv.mean_us > 0
    assert got.exit(WORLD_SWITCH).count == 0  # alone: the CPU never switched VMs
    assert [e.cycles for e in got.exits] == sorted((e.cycles for e in got.exits), reverse=True)
    table = format_exits(got.exits, "k")
    assert "privileged" in table and "us/exit" in table


def test_a_world_switch_is_charged_to_the_vm_switched_to() -> None:
    hv = Hypervisor(host_memory="4M")
    a = hv.create_vm("a", SPIN, memory="64K")
    b = hv.create_vm("b", SPIN, memory="64K")
    a.start()
    b.start()
    hv.run(cycles=2_000_000)
    sa, sb = a.metrics().exit(WORLD_SWITCH), b.metrics().exit(WORLD_SWITCH)
    assert sa.count > 10 and sb.count > 10 and abs(sa.count - sb.count) <= 1
    assert sa.cycles == sa.count * hv.costs.world_switch
    assert a.metrics().hypervisor_cycles == sa.cycles  # a spinner has no other exit


def test_overhead_orders_the_techniques_on_the_minikernel() -> None:
    image = minikernel()
    ref = baseline(image)
    assert ref.reason == "poweroff" and ref.exit_code == 0 and ref.cycles > 0
    got = {
        mode: overhead(image, mode, reference=ref)
        for mode in ("trap-and-emulate", "binary-translation", "hw-assist")
    }
    te, bt, hw = (
        got[m].extra_cycles for m in ("trap-and-emulate", "binary-translation", "hw-assist")
    )
    assert te > bt > hw > 0
    for o in got.values():
        assert o.cycles == o.baseline_cycles + o.extra_cycles
        assert o.cycle_overhead == pytest.approx(o.extra_cycles / ref.cycles)
        assert o.host_seconds > 0 and o.baseline_host_seconds > 0
        assert set(o.row()) >= {"mode", "cycle_overhead", "time_ratio", "extra_cycles"}


def test_vm_overhead_agrees_with_the_one_shot_function() -> None:
    image = minikernel()
    ref = baseline(image)
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("k", image, memory="4M", mode="binary-translation")
    with pytest.raises(ValueError, match="has not finished its program"):
        vm.overhead(ref)
    vm.start()
    hv.run()
    mine = vm.overhead(ref)
    theirs = overhead(image, "binary-translation", reference=ref)
    assert mine.cycles == theirs.cycles and mine.extra_cycles == theirs.extra_cycles > 0


def test_a_baseline_counts_each_run_alone() -> None:
    once, twice = baseline(minikernel()), baseline(minikernel(), repeat=2)
    assert (once.cycles, once.idle_cycles, once.instructions) == (
        twice.cycles,
        twice.idle_cycles,
        twice.instructions,
    )
    assert once.idle_cycles > 0 and once.cycles > 0  # its ticker sleeps: idle is not busy


def test_overhead_needs_a_program_that_ends() -> None:
    with pytest.raises(ValueError, match="did not finish on bare metal"):
        baseline(SPIN, memory="64K", max_instructions=100_000)
    with pytest.raises(ValueError, match="unknown mode"):
        overhead(minikernel(), "emulation")


def test_rows_have_the_documented_keys() -> None:
    hv = Hypervisor(host_memory="16M")
    hv.create_vm("k", minikernel(), memory="4M", mode="trap-and-emulate").start()
    hv.create_vm("s", SPIN, memory="64K", limit=0.5).start()
    hv.create_vm("off", SPIN, memory="64K")  # never started: still a row
    hv.run(cycles=5_000_000)
    vms = hv.rows("vms")
    assert [row["vm"] for row in vms] == ["k", "s", "off"]
    assert all(tuple(row) == VM_ROW_KEYS for row in vms)
    assert vms[1]["limit"] == 0.5 and vms[0]["limit"] is None
    assert vms[2]["state"] == "created" and vms[2]["instructions"] == 0
    assert vms[2]["entitlement"] == 0
    assert sum(row["entitlement"] for row in vms) == pytest.approx(1.0)
    exits = hv.rows()  # "vms" is the default
    assert exits == vms
    exits = hv.rows("exits")
    assert exits and all(tuple(row) == EXIT_ROW_KEYS for row in exits)
    assert {row["exit"] for row in exits if row["vm"] == "k"} >= {"privileged", "guest-trap"}
    series = hv.rows("series")
    assert series and all(tuple(row) == SERIES_ROW_KEYS for row in series)
    host = hv.rows("host")
    assert host and all(tuple(row) == HOST_SERIES_KEYS for row in host)
    assert host[-1]["clock"] == hv.clock
    with pytest.raises(ValueError, match="unknown kind of rows 'frames'"):
        hv.rows("frames")


def test_time_series_are_bounded_ring_buffers_of_cumulative_counters() -> None:
    hv = Hypervisor(host_memory="4M")
    hv.history_length = 50
    vm = hv.create_vm("s", SPIN, memory="64K")
    vm.start()
    for _ in range(80):
        hv.run(cycles=1_000_000)
    series = hv.series(vm)
    assert len(series) == 50 and series.dropped > 0
    cols = series.columns()
    assert cols["clock"][-1] == hv.clock
    assert all(b > a for a, b in zip(cols["clock"], cols["clock"][1:], strict=False))
    assert all(b >= a for a, b in zip(cols["instructions"], cols["instructions"][1:], strict=False))
    assert series.last() == series.rows()[-1]
    assert series.last()["instructions"] == vm.stats.instructions
    assert len(hv.series()) > 0 and hv.series().last()["clock"] == hv.clock
    assert hv.history[-1].clock == hv.clock and hv.history[-1].vm == "s"
    newest = hv.samples("s", after=int(cols["clock"][-3]))
    assert [p.clock for p in newest] == cols["clock"][-2:].tolist()
    assert hv.samples(vm) == [p for p in hv.history if p.vm == "s"]


def test_series_ring_buffer() -> None:
    s = Series(("clock", "x"), capacity=100)
    assert s.last() is None and len(s) == 0
    for i in range(250):
        s.append((i, 2 * i))
    assert len(s) == 100 and s.dropped == 150
    assert s.columns()["clock"].tolist() == list(range(150, 250))
    assert s.rows()[0] == {"clock": 150, "x": 300}
    with pytest.raises(ValueError, match="capacity"):
        Series(("clock",), capacity=0)


def test_a_snapshot_of_metrics_does_not_change_afterwards() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("s", SPIN, memory="64K")
    vm.start()
    hv.run(cycles=1_000_000)
    at = hv.clock  # the first instruction boundary at or after 1,000,000 cycles
    assert at >= 1_000_000
    before = vm.metrics()
    assert isinstance(before, VMMetrics)
    hv.run(cycles=1_000_000)
    assert vm.metrics().instructions > before.instructions
    assert vm.metrics().clock > at
    assert before.clock == at
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        before.instructions = 0  # type: ignore[misc]
    vm.stop()
    vm.delete()
    with pytest.raises(ValueError, match="not on this hypervisor"):
        hv.metrics(vm)


def test_memory_used_counts_host_frames() -> None:
    hv = Hypervisor(host_memory="16M")
    hv.create_vm("a", SPIN, memory="1M")
    hv.create_vm("b", SPIN, memory="2M")
    host = hv.metrics()
    assert host.memory_used == 3 << 20 == hv.memory.used_bytes
    assert hv.metrics("b").memory_used == 2 << 20


def test_entitlement_divides_by_shares_within_reservation_and_limit() -> None:
    hv = Hypervisor(host_memory="16M")
    a = hv.create_vm("a", SPIN, memory="64K", shares=1000)
    b = hv.create_vm("b", SPIN, memory="64K", shares=1000, limit=0.03)
    c = hv.create_vm("c", SPIN, memory="64K", shares=1000, reservation=0.6)
    d = hv.create_vm("d", SPIN, memory="64K", shares=8000)
    for vm in (a, b, c, d):
        vm.start()
    got = entitlements(hv.vms)
    assert got["b"] == pytest.approx(0.03)  # capped by its limit
    assert got["c"] == pytest.approx(0.6)  # raised to its reservation
    assert got["d"] == pytest.approx(8 * got["a"])  # the rest by shares
    assert got["a"] == pytest.approx(0.37 / 9)
    assert sum(got.values()) == pytest.approx(1.0)
    d.pause()
    assert "d" not in entitlements(hv.vms)
    assert entitlements([b]) == {"b": 0.03}  # alone and limited: the rest idles


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_as_the_core_returns_loses_no_accounting(
    monkeypatch: pytest.MonkeyPatch, mode: str, exits: str
) -> None:
    """Ctrl-C pressed while the compiled core runs is raised the moment it returns to Python.

    What that call ran is still counted: the VM's counters, the host clock and the guest's own
    cycle counter agree, and the VM then ends exactly as one that was never interrupted (it
    used to lose the whole call from its accounting, and its clock then went back).
    """
    import vmlab.core.cpu as core
    import vmlab.hypervisor.fastpath as fastpath

    def kernel_vm(hv: Hypervisor) -> VM:
        image = images.load("minikernel", PV=int(mode == "paravirtual"), **SMALL_KERNEL)
        vm = hv.create_vm("k", image, memory="1M", mode=mode, exits=exits)
        vm.start()
        return vm

    alone = Hypervisor(host_memory="16M")
    ref = kernel_vm(alone)
    alone.run()
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv)
    module, name = (fastpath, "run_vcpu") if exits == "jit" else (core, "run")
    real = getattr(module, name)
    calls = 0

    def interrupted_on_return(*args: object) -> object:
        nonlocal calls
        result = real(*args)
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt  # as a SIGINT that arrived during the call
        return result

    monkeypatch.setattr(module, name, interrupted_on_return)
    with pytest.raises(KeyboardInterrupt):
        hv.run()
    monkeypatch.undo()
    assert vm.guest_clock == vm.csr("cycle") + (vm.csr("cycleh") << 32)
    assert vm.stats.consumed_cycles + vm.stats.idle_cycles == hv.clock  # its time is all there
    hv.run()
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)
    assert vm.console.output == ref.console.output
    for key in ("instructions", "guest_cycles", "hypervisor_cycles"):
        assert getattr(vm.stats, key) == getattr(ref.stats, key), key
    assert hv.clock == alone.clock
