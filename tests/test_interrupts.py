"""Ctrl-C never leaves anything half done: every state-changing call completes, then raises it.

The interrupts here are real SIGINTs (``signal.raise_signal``), raised at chosen points: at a
chosen line of vmlab's Python code (a trace function counts the lines an operation executes),
or just as the core returns to Python (the moment the old ``hv.run`` lost the exit it had
returned). One test sends the signal from outside, to an unbounded run in another process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_lifecycle_stateful import Lifecycle, fingerprint, host_view, image_of

import vmlab
from vmlab import Hypervisor, Machine, images
from vmlab._interrupts import Held
from vmlab.core import cpu as core
from vmlab.hypervisor import fastpath

VMLAB_DIR = os.path.dirname(vmlab.__file__)


def interrupt_at_line(k: int, fn: Callable[[], Any]) -> tuple[bool, int, bool]:
    """Run ``fn``, raising SIGINT at the ``k``-th line of vmlab code it executes.

    Returns whether KeyboardInterrupt came out, how many vmlab lines ran, and whether the
    signal came while vmlab held Ctrl-C back (else: before the call began or once it ended).
    """
    count = 0
    held = False

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count, held
        if event == "call":
            return tracer if frame.f_code.co_filename.startswith(VMLAB_DIR) else None
        if event == "line":
            count += 1
            if count == k:
                held = signal.getsignal(signal.SIGINT) is not signal.default_int_handler
                signal.raise_signal(signal.SIGINT)
        return tracer

    sys.settrace(tracer)
    try:
        fn()
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sys.settrace(None)
    return interrupted, count, held


def host_state(hv: Hypervisor) -> dict:
    """Everything an operation may change: VMs, their guest state, snapshots, the host's frames."""
    return {
        "host": host_view(hv),
        "vms": {vm.name: fingerprint(vm) for vm in hv.vms},
        "snapshots": {vm.name: sorted(s.name for s in vm.snapshots) for vm in hv.vms},
    }


def frames_accounted(hv: Hypervisor) -> None:
    """The lifecycle test's check: each frame's count is the VMs mapping it, and so on."""
    model = Lifecycle.__new__(Lifecycle)
    model.hv = hv
    Lifecycle.frames_are_accounted(model)


def paused_vm(tmp_path: Path) -> tuple[Hypervisor, Any, Any]:
    """A host with a paused VM that has run, a snapshot of it, its export; one VM stopped, one new."""
    hv = Hypervisor(host_memory="2M")
    vm = hv.create_vm("a", image_of("sieve"), memory="128K", mode="hw-assist")
    vm.start()
    hv.run(cycles=20_000)
    vm.pause()
    snap = vm.snapshot("s1")
    vm.resume()
    hv.run(cycles=20_000)
    vm.pause()
    if not (tmp_path / "a.vmx").exists():
        vm.export(tmp_path / "a.vmx")
    done = hv.create_vm("z", image_of("hello"), memory="64K", mode="paravirtual")
    done.start()
    hv.run()
    assert done.state == "stopped"
    hv.create_vm("n", image_of("fib"), memory="64K")
    return hv, vm, snap


OPERATIONS: dict[str, Callable[[Hypervisor, Any, Any, Path], Any]] = {
    "create_vm": lambda hv, vm, snap, d: hv.create_vm("c", image_of("fib"), memory="64K"),
    "start": lambda hv, vm, snap, d: hv.vm("n").start(),
    "resume": lambda hv, vm, snap, d: vm.resume(),
    "stop": lambda hv, vm, snap, d: vm.stop(),
    "delete": lambda hv, vm, snap, d: hv.vm("z").delete(),
    "reset": lambda hv, vm, snap, d: vm.reset(),
    "snapshot": lambda hv, vm, snap, d: vm.snapshot("s2"),
    "full snapshot": lambda hv, vm, snap, d: vm.snapshot("s2", incremental=False),
    "restore": lambda hv, vm, snap, d: vm.restore(snap),
    "delete_snapshot": lambda hv, vm, snap, d: vm.delete_snapshot(snap),
    "linked clone": lambda hv, vm, snap, d: vm.clone("b"),
    "full clone": lambda hv, vm, snap, d: vm.clone("b", linked=False),
    "import_vm": lambda hv, vm, snap, d: hv.import_vm(d / "a.vmx", name="b"),
    "write_guest": lambda hv, vm, snap, d: vm.write_guest(0x8000, bytes(range(256)) * 20),
    "set_resources": lambda hv, vm, snap, d: vm.set_resources(shares=500, limit=0.5),
}


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_an_interrupted_operation_completes_and_then_raises(op: str, tmp_path: Path) -> None:
    """Wherever in the operation the Ctrl-C lands, the result is the uninterrupted one.

    (Or, if it lands in the first lines of the call, before Ctrl-C is held, nothing.)
    """
    for _ in range(2):  # (the second time: without what the first call does once, imports)
        hv, vm, snap = paused_vm(tmp_path)
        before = host_state(hv)
        interrupted, lines, _ = interrupt_at_line(
            0, partial(OPERATIONS[op], hv, vm, snap, tmp_path)
        )
    assert not interrupted and lines > 10
    expected = host_state(hv)
    frames_accounted(hv)
    # the first 40 lines one by one (the bookkeeping at the start), then 30 points spread out
    points = sorted({k for k in range(1, 41)} | set(np.linspace(41, lines, 30, dtype=int).tolist()))
    points = [k for k in points if k <= lines]
    for k in points:
        hv, vm, snap = paused_vm(tmp_path)
        interrupted, _, held = interrupt_at_line(k, partial(OPERATIONS[op], hv, vm, snap, tmp_path))
        assert interrupted, f"{op}: the Ctrl-C at line {k} was lost"
        got = host_state(hv)
        if held or got != before:
            assert got == expected, f"{op}: interrupted at line {k}, the result differs"
        frames_accounted(hv)
        if not held:  # only in the few lines before Ctrl-C is held, and after
            assert k <= 10 or k > lines - 10, f"{op}: not held at line {k} of {lines}"


def test_a_machine_operation_interrupted_completes() -> None:
    """Machine.load, reset and restore_state also finish before the Ctrl-C is raised."""
    image = images.load("hello")
    ops: dict[str, Callable[[Machine], Any]] = {
        "load": lambda m: m.load(image),
        "reset": lambda m: m.reset(),
        "restore_state": lambda m: m.restore_state(m.saved),  # type: ignore[attr-defined]
    }

    def machine() -> Machine:
        m = Machine(memory="64K")
        m.load(images.load("fib", N=10))
        m.saved = m.save_state()  # type: ignore[attr-defined]
        m.run(max_instructions=300)
        return m

    def state(m: Machine) -> tuple:
        return (m.mem.tobytes(), m.cpu.regs.tolist(), m.cpu.st.tolist(), m.console.output)

    for name, op in ops.items():
        m = machine()
        op(m)
        expected = state(m)
        m = machine()
        _, lines, _ = interrupt_at_line(0, partial(op, m))
        before = state(machine())
        for k in range(1, lines + 1):
            m = machine()
            interrupted, _, held = interrupt_at_line(k, partial(op, m))
            assert interrupted, f"{name}: the Ctrl-C at line {k} was lost"
            if held or state(m) != before:  # (as above)
                assert state(m) == expected, f"{name}: interrupted at line {k}, the result differs"


class CoreReturns:
    """Wraps the calls into the core so that a SIGINT arrives just as the k-th one returns."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, k: int) -> None:
        self.calls = 0
        self.k = k
        for module, name in ((core, "run"), (fastpath, "run_vcpu")):
            real = getattr(module, name)
            monkeypatch.setattr(module, name, self.wrap(real))

    def wrap(self, real: Callable[..., int]) -> Callable[..., int]:
        def call(*args: Any) -> int:
            result = real(*args)
            self.calls += 1
            if self.calls == self.k:
                signal.raise_signal(signal.SIGINT)
            return result

        return call


def busy_host() -> tuple[Hypervisor, list]:
    """Three VMs taking many exits, on both exit paths: a minikernel, a sieve and a writer."""
    hv = Hypervisor(host_memory="8M", slice_cycles=200_000)
    kernel = images.load("minikernel", PRIMES_N=300, COLLATZ_N=100, PING_N=10, TICKER_N=2)
    vms = [
        hv.create_vm("t", kernel, memory="1M", mode="trap-and-emulate", exits="python"),
        hv.create_vm("b", kernel, memory="1M", mode="binary-translation", exits="jit"),
        hv.create_vm("s", images.load("sieve", N=30000), memory="256K", mode="hw-assist"),
    ]
    for vm in vms:
        vm.start()
    return hv, vms


def outcome(hv: Hypervisor, vms: list) -> tuple:
    """What the run did: each VM's output, state and counters, and the host's clocks."""
    per_vm = [
        (
            vm.console.output,
            vm.state,
            vm.exit_code,
            vm.stats.instructions,
            vm.stats.guest_cycles,
            vm.stats.hypervisor_cycles,
            vm.stats.idle_cycles,
            vm.stats.slices,
            {name: (e.count, e.cycles) for name, e in vm.stats.exits.items()},
        )
        for vm in vms
    ]
    return per_vm, hv.clock, hv.guest_cycles, hv.hypervisor_cycles, hv.idle_cycles


def test_an_interrupted_hypervisor_run_goes_on_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C as the core returns stops hv.run between slices; running on changes nothing."""
    counter = CoreReturns(monkeypatch, k=0)
    hv, vms = busy_host()
    hv.run()
    expected = outcome(hv, vms)
    assert all(vm.state == "stopped" and vm.exit_code == 0 for vm in vms), expected
    total = counter.calls
    assert total > 100
    points = [1, 2, 3, *np.linspace(4, total - 1, 12, dtype=int).tolist()]
    cut_short = 0
    for k in points:
        counter.calls, counter.k = 0, k
        hv, vms = busy_host()
        with pytest.raises(KeyboardInterrupt):
            hv.run()
        assert counter.calls >= k
        cut_short += any(vm.state == "running" for vm in vms)  # (else it was the last slice)
        hv.run()
        assert outcome(hv, vms) == expected, f"interrupted at call {k} into the core"
    assert cut_short >= len(points) - 2


def test_an_interrupted_machine_run_goes_on_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on bare metal, whose runs call the core in chunks."""
    monkeypatch.setattr("vmlab.machine.SLICE", 5_000)
    counter = CoreReturns(monkeypatch, k=0)
    image = images.load("minikernel", PRIMES_N=300, COLLATZ_N=100, PING_N=10, TICKER_N=2)
    m = Machine(memory="1M")
    m.load(image)
    result = m.run()
    expected = (m.console.output, result.instructions, result.cycles, result.exit_code)
    total = counter.calls
    assert total > 20
    for k in range(1, total, max(1, total // 15)):
        counter.calls, counter.k = 0, k
        m = Machine(memory="1M")
        m.load(image)
        with pytest.raises(KeyboardInterrupt):
            m.run()
        assert m.state == "ready"
        rest = m.run()
        got = (m.console.output, m.instructions, m.cycles, rest.exit_code)
        assert got == expected, f"interrupted at call {k} into the core"


def test_ctrl_c_stops_an_unbounded_run_from_outside() -> None:
    """A real Ctrl-C from another process stops hv.run() of a VM that spins forever."""
    script = textwrap.dedent(
        """
        import sys
        from vmlab import Hypervisor, assemble
        spin = assemble("_start: j _start\\n", "spin.s")
        hv = Hypervisor(host_memory="1M")
        vm = hv.create_vm("spin", spin, memory="64K")
        vm.start()
        hv.run(cycles=1000)
        print("running", flush=True)
        try:
            hv.run()
        except KeyboardInterrupt:
            vm.pause()
            print("interrupted", vm.state, hv.clock > 1000, flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "running\n"
        time.sleep(1)  # (well into the unbounded run: a signal before it would prove nothing)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert (proc.returncode, out) == (0, "interrupted paused True\n"), err


def test_held_blocks_nest_and_raise_once_at_the_end() -> None:
    """Only the outermost block raises; the handler is Python's own again afterwards."""
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with Held() as outer:
            with Held() as inner:
                signal.raise_signal(signal.SIGINT)
                reached.append("after the signal")
                assert not inner.stop_requested  # (only the outermost block may stop)
            reached.append("after the inner block")
            assert outer.stop_requested
    assert reached == ["after the signal", "after the inner block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_error_in_a_held_block_is_kept_as_the_cause() -> None:
    with pytest.raises(KeyboardInterrupt) as info:
        with Held():
            signal.raise_signal(signal.SIGINT)
            raise ValueError("bad input")
    assert isinstance(info.value.__cause__, ValueError)


def test_another_sigint_handler_is_left_alone() -> None:
    """Code with its own SIGINT handler gets the signal as before, at once."""
    seen = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with Held() as held:
            signal.raise_signal(signal.SIGINT)
            assert seen == [signal.SIGINT] and not held.stop_requested
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, old)


def test_held_does_nothing_outside_the_main_thread() -> None:
    """Signals only reach the main thread; elsewhere Held must not touch the handler."""
    errors = []

    def work() -> None:
        try:
            with Held() as held:
                assert not held.stop_requested
        except BaseException as exc:  # (reported to the main thread below)
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert errors == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
