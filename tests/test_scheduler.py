"""Scheduling by shares, with reservation and limit: CPU time divides as configured, deterministically.

Every figure here is modelled host cycles, so the checks are exact or within a slice's worth;
nothing is timed on the wall clock.
"""

from __future__ import annotations

import pytest

from vmlab import Hypervisor, assemble, images
from vmlab.hypervisor import VM
from vmlab.hypervisor.hypervisor import PERIOD_CYCLES, SLICE_CYCLES
from vmlab.hypervisor.metrics import VMMetrics

SPIN = assemble("_start: addi t0, t0, 1\n j _start\n")  # always busy
WAIT_FOREVER = assemble("_start: wfi\n j _start\n")  # no interrupt can wake it: waits for input
TICK = 1_000_000
TICKER = assemble(  # idle, waking on a timer tick every TICK cycles (like an idle guest OS)
    f"""
_start: li   t0, 1
        csrw ie, t0              # the timer line (interrupts stay off: wfi just waits)
loop:   csrr t0, cycle
        li   t1, {TICK}
        add  t0, t0, t1
        csrw timecmp, t0
        wfi
        j    loop
"""
)


def spinners(hv: Hypervisor, *shares: int, **kw) -> list[VM]:
    """Started spinning VMs named a, b, c, ... with these shares."""
    vms = [
        hv.create_vm(chr(ord("a") + i), SPIN, memory="64K", shares=s, **kw)
        for i, s in enumerate(shares)
    ]
    for vm in vms:
        vm.start()
    return vms


def m(vm: VM) -> VMMetrics:
    """The VM's metrics."""
    return vm.metrics()


def test_cpu_divides_in_proportion_to_shares() -> None:
    hv = Hypervisor(host_memory="4M")
    a, b, c = spinners(hv, 1000, 2000, 4000)
    hv.run(cycles=50_000_000)
    used = [m(vm).consumed_cycles for vm in (a, b, c)]
    assert sum(used) == hv.clock  # nobody idles: the CPU is always busy
    unit = sum(used) / 7
    for got, want in zip(used, (1, 2, 4), strict=True):
        assert got == pytest.approx(want * unit, rel=0.02)
    for vm, share in zip((a, b, c), (1 / 7, 2 / 7, 4 / 7), strict=True):
        assert m(vm).entitlement == pytest.approx(share)
        assert m(vm).cpu_share == pytest.approx(share, rel=0.02)


def test_shares_hold_between_slices_too_not_only_on_average() -> None:
    hv = Hypervisor(host_memory="4M")
    a, b = spinners(hv, 1000, 3000)
    for _ in range(20):  # every 2M-cycle window, not just the total, is split 1:3
        before = (m(a).consumed_cycles, m(b).consumed_cycles)
        hv.run(cycles=2_000_000)
        got_a = m(a).consumed_cycles - before[0]
        got_b = m(b).consumed_cycles - before[1]
        assert got_a / (got_a + got_b) == pytest.approx(0.25, abs=2 * SLICE_CYCLES / 2_000_000)


def test_a_spinning_rogue_cannot_starve_the_others_beyond_its_share() -> None:
    hv = Hypervisor(host_memory="16M")
    rogue = hv.create_vm("rogue", images.load("rogue"), memory="4M", shares=4000)
    victim = hv.create_vm("victim", images.load("sieve", N=60_000), memory="1M", shares=1000)
    rogue.start()
    victim.start()
    hv.run(cycles=100_000_000)
    assert rogue.state == "running" and "spinning forever" in rogue.console.output
    assert victim.stop_reason == "halt" and victim.exit_code == 0
    v = m(victim)
    # while it ran, the victim got its share (1/5) of the CPU, not what was left over
    assert v.entitlement == 0  # it has stopped now
    assert v.cpu_share == pytest.approx(0.2, abs=0.01)
    assert v.ready_cycles == pytest.approx(4 * v.consumed_cycles, rel=0.05)


def test_a_vm_at_its_limit_gets_no_more_even_alone_and_the_host_idles_the_rest() -> None:
    hv = Hypervisor(host_memory="4M")
    (a,) = spinners(hv, 1000, limit=0.25)
    hv.run(cycles=20_000_000)
    got = m(a)
    assert got.consumed_cycles <= 0.25 * hv.clock
    assert got.consumed_cycles >= 0.25 * hv.clock - SLICE_CYCLES
    assert hv.idle_cycles == hv.clock - got.consumed_cycles
    assert got.limited_cycles == hv.idle_cycles  # it was held back, not waiting
    assert got.entitlement == 0.25


def test_a_limit_holds_with_expensive_exits_overshooting_a_period() -> None:
    # trap-and-emulate exits cost ~1500 cycles each: a slice can end past the limit; the
    # overshoot is taken from the next period, so the limit holds over the run
    hv = Hypervisor(host_memory="16M")
    k = hv.create_vm(
        "k",
        images.load("minikernel", PRIMES_N=20000, COLLATZ_N=3000, PING_N=500),
        memory="4M",
        mode="trap-and-emulate",
        limit=0.3,
    )
    other = hv.create_vm("s", SPIN, memory="64K")
    k.start()
    other.start()
    hv.run(cycles=30_000_000)
    assert k.state == "running"
    assert m(k).consumed_cycles <= 0.3 * hv.clock + 3000
    assert m(other).consumed_cycles >= 0.7 * hv.clock - 3000


def test_a_reservation_is_honoured_against_heavier_shares() -> None:
    hv = Hypervisor(host_memory="4M")
    r = hv.create_vm("r", SPIN, memory="64K", shares=1000, reservation=0.5)
    x, y = spinners(hv, 4000, 4000)
    r.start()
    hv.run(cycles=30_000_000)
    assert m(r).entitlement == pytest.approx(0.5)  # shares alone would give it 1/9
    assert m(r).cpu_share >= 0.5 - 0.002
    assert m(x).consumed_cycles == pytest.approx(m(y).consumed_cycles, rel=0.01)


def test_a_reservation_does_not_cap_a_vm_whose_shares_give_it_more() -> None:
    hv = Hypervisor(host_memory="4M")
    r = hv.create_vm("r", SPIN, memory="64K", shares=3000, reservation=0.2)
    spinners(hv, 1000)
    r.start()
    hv.run(cycles=20_000_000)
    assert m(r).entitlement == pytest.approx(0.75)
    assert m(r).cpu_share == pytest.approx(0.75, abs=0.01)


def test_an_idle_vm_costs_no_host_cycles() -> None:
    hv = Hypervisor(host_memory="4M")
    idle = hv.create_vm("idle", WAIT_FOREVER, memory="64K")
    (busy,) = spinners(hv, 1000)
    idle.start()
    hv.run(cycles=1_000_000)
    assert idle.wake_at is not None  # waiting in wfi
    used = m(idle).consumed_cycles
    hv.run(cycles=20_000_000)
    assert m(idle).consumed_cycles == used
    assert m(busy).consumed_cycles == hv.clock - used
    assert m(idle).idle_cycles == hv.clock - used


def test_a_host_with_only_vms_waiting_for_input_stops_its_clock() -> None:
    hv = Hypervisor(host_memory="4M")
    hv.create_vm("idle", WAIT_FOREVER, memory="64K").start()
    hv.run(cycles=100_000)
    clock = hv.clock
    assert hv.run(cycles=10_000_000) == 0 and hv.clock == clock
    assert hv.run() == 0  # without a budget, too: it returns instead of hanging


def test_a_ticking_idle_vm_costs_only_its_ticks() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("t", TICKER, memory="64K")
    vm.start()
    advanced = hv.run(cycles=50 * TICK)
    assert advanced == 50 * TICK  # time passes exactly to the end
    got = m(vm)
    per_tick = got.consumed_cycles / 50
    assert 0 < per_tick < 3000  # a wfi exit and a few instructions
    assert got.exit("idle").count == pytest.approx(50, abs=1)
    assert got.idle_cycles == hv.idle_cycles == hv.clock - got.consumed_cycles


def test_a_paused_vm_gets_nothing_and_catches_up_nothing_after_resume() -> None:
    hv = Hypervisor(host_memory="4M")
    a, b = spinners(hv, 1000, 1000)
    hv.run(cycles=2_000_000)
    b.pause()
    paused_at = hv.clock
    before_b = m(b).consumed_cycles
    hv.run(cycles=20_000_000)
    assert m(b).consumed_cycles == before_b
    b.resume()
    paused = hv.clock - paused_at  # 20M less the first run's overshoot (the second's is 0)
    before = (m(a).consumed_cycles, m(b).consumed_cycles)
    hv.run(cycles=4_000_000)  # no burst to "repay" b: they share from now on
    got_a = m(a).consumed_cycles - before[0]
    got_b = m(b).consumed_cycles - before[1]
    assert got_b == pytest.approx(got_a, abs=2 * SLICE_CYCLES)
    # a paused VM is not "ready": that time is not counted at all
    assert m(b).elapsed_cycles == hv.clock - paused


def test_a_vm_waking_from_a_long_sleep_gets_no_credit_for_it() -> None:
    sleepy = assemble(
        """
_start: li   t0, 1
        csrw ie, t0
        li   t0, 30000000
        csrw timecmp, t0         # sleep for 30M cycles, then spin
        wfi
spin:   j    spin
"""
    )
    hv = Hypervisor(host_memory="4M")
    s = hv.create_vm("s", sleepy, memory="64K")
    (a,) = spinners(hv, 1000)
    s.start()
    hv.run(cycles=31_000_000)
    before = (m(a).consumed_cycles, m(s).consumed_cycles)
    hv.run(cycles=4_000_000)
    got_a = m(a).consumed_cycles - before[0]
    got_s = m(s).consumed_cycles - before[1]
    assert got_s == pytest.approx(got_a, abs=2 * SLICE_CYCLES)


def test_a_vm_changes_its_own_resources_like_the_hypervisor_does() -> None:
    hv = Hypervisor(host_memory="4M")
    (a,) = spinners(hv, 1000)
    a.set_resources(shares=3000, reservation=0.2, limit=0.9)
    assert (a.shares, a.reservation, a.limit) == (3000, 0.2, 0.9)
    a.set_resources(shares=500)  # the others stay
    assert (a.shares, a.reservation, a.limit) == (500, 0.2, 0.9)
    a.set_resources(limit=None)
    assert a.limit is None
    with pytest.raises(ValueError, match="shares must be a positive integer"):
        a.set_resources(shares=-1)
    assert a.shares == 500


def test_resources_of_a_vm_that_is_not_the_hypervisors_are_refused() -> None:
    hv, other = Hypervisor(host_memory="4M"), Hypervisor(host_memory="4M")
    a, b = spinners(hv, 1000, 1000)
    (stranger,) = spinners(other, 1000)
    with pytest.raises(ValueError, match=r"VM 'a' \(running\) is not a VM of this hypervisor"):
        other.set_resources(a, shares=5)
    b.stop()
    b.delete()
    with pytest.raises(ValueError, match=r"VM 'b' \(deleted\) is not a VM of this hypervisor"):
        b.set_resources(shares=5)
    assert (a.shares, b.shares, stranger.shares) == (1000, 1000, 1000)


def test_changing_shares_takes_effect_and_bad_values_change_nothing() -> None:
    hv = Hypervisor(host_memory="4M")
    a, b = spinners(hv, 1000, 1000)
    hv.run(cycles=2_000_000)
    hv.set_resources(b, shares=3000)
    before = (m(a).consumed_cycles, m(b).consumed_cycles)
    hv.run(cycles=8_000_000)
    got_a = m(a).consumed_cycles - before[0]
    got_b = m(b).consumed_cycles - before[1]
    assert got_b / (got_a + got_b) == pytest.approx(0.75, abs=0.01)
    hv.set_resources("a", limit=0.1)
    assert a.limit == 0.1
    hv.set_resources("a", limit=None)
    assert a.limit is None
    for kwargs, message in [
        ({"shares": 0}, "shares must be a positive integer"),
        ({"reservation": 1.5}, "reservation must be a fraction"),
        ({"limit": 0.0}, "limit must be a fraction"),
        ({"reservation": 0.5, "limit": 0.2}, "below the reservation"),
    ]:
        with pytest.raises(ValueError, match=message):
            hv.set_resources(a, **kwargs)
    hv.set_resources(a, reservation=0.6)
    with pytest.raises(ValueError, match="does not fit"):
        hv.set_resources(b, reservation=0.5)
    assert (a.shares, a.reservation, a.limit, b.shares, b.reservation) == (1000, 0.6, None, 3000, 0)


def scenario() -> tuple[Hypervisor, list[VM]]:
    """Several techniques, limits, a reservation, timers and a rogue, run for a while."""
    hv = Hypervisor(host_memory="32M")
    small = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}
    vms = [
        hv.create_vm(
            "te", images.load("minikernel", **small), memory="4M", mode="trap-and-emulate"
        ),
        hv.create_vm(
            "bt", images.load("minikernel", **small), memory="4M", mode="binary-translation"
        ),
        hv.create_vm("hw", images.load("sieve", N=50_000), memory="1M", shares=2000, limit=0.4),
        hv.create_vm("rogue", images.load("rogue"), memory="4M", reservation=0.1),
        hv.create_vm("tick", TICKER, memory="64K", shares=500),
    ]
    for vm in vms:
        vm.start()
    hv.run(cycles=40_000_000)
    hv.run(instructions=1_000_000)
    return hv, vms


def without_host_time(rows: list[dict]) -> list[dict]:
    """Rows with the measured (wall-clock) fields removed."""
    return [{k: v for k, v in row.items() if "seconds" not in k and k != "mean_us"} for row in rows]


def test_two_identical_runs_are_identical() -> None:
    hv1, vms1 = scenario()
    hv2, vms2 = scenario()
    assert hv1.clock == hv2.clock
    for kind in ("vms", "exits", "series", "host"):
        assert without_host_time(hv1.rows(kind)) == without_host_time(hv2.rows(kind))
    for v1, v2 in zip(vms1, vms2, strict=True):
        assert v1.console.output == v2.console.output
        assert v1.pc == v2.pc and list(v1.cpu.regs) == list(v2.cpu.regs)


def test_run_instructions_stops_after_exactly_that_many() -> None:
    hv = Hypervisor(host_memory="16M")
    hv.create_vm("k", images.load("minikernel"), memory="4M", mode="trap-and-emulate").start()
    spinners(hv, 1000, 3000)
    for n in (1, 7, 1000, 123_457, 2_000_001):
        before = hv.metrics().instructions
        hv.run(instructions=n)
        assert hv.metrics().instructions - before == n


def test_run_cycles_stops_at_the_first_slice_boundary_at_or_after_the_budget() -> None:
    hv = Hypervisor(host_memory="16M")
    hv.create_vm("k", images.load("minikernel"), memory="4M", mode="trap-and-emulate").start()
    spinners(hv, 1000)
    costs = hv.costs
    # a slice ends past the budget by at most one world switch, one instruction or one exit,
    # and the next run takes that overshoot off its budget: the runs' ends never drift
    worst = costs.world_switch + max(costs.as_dict().values()) + costs.userspace + costs.reflect
    due = 0
    for n in (1, 7, 1000, 123_457, 5_000_001):
        advanced = hv.run(cycles=n)
        due += n
        assert advanced == n
        assert due <= hv.clock < due + worst


def test_run_rejects_bad_budgets_and_slices() -> None:
    hv = Hypervisor(host_memory="4M")
    for kwargs in ({"cycles": -1}, {"instructions": -5}, {"cycles": 1.5}):
        with pytest.raises(ValueError, match="must be an integer >= 0"):
            hv.run(**kwargs)
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="slice_cycles must be a positive integer"):
            Hypervisor(host_memory="4M", slice_cycles=bad)


def test_slices_are_counted_in_cycles_and_a_lone_vm_is_not_preempted_needlessly() -> None:
    hv = Hypervisor(host_memory="4M")
    a, b = spinners(hv, 1000, 1000)
    hv.run(cycles=10_000_000)
    slices = a.stats.slices + b.stats.slices
    assert slices == pytest.approx(10_000_000 / SLICE_CYCLES, rel=0.05)
    b.pause()
    before = a.stats.slices
    hv.run(cycles=10_000_000)
    assert a.stats.slices - before <= 10_000_000 // PERIOD_CYCLES + 1
