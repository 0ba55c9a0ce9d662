"""Popek and Goldberg, live: the minikernel under a machine that is not classically virtualizable.

A machine is classically virtualizable (trap-and-emulate works) when every *sensitive* instruction
is *privileged*: it traps when a deprivileged guest kernel runs it. vmlab's machine with
``strict=False`` breaks that on purpose: ``csrr rd, status`` does not trap in user mode, it reads
the real status register (like x86's PUSHF/SMSW).

The minikernel idles realistically: while every process sleeps it waits in ``wfi`` and then opens a
short window with interrupts enabled (``hal_wait``), so the timer interrupt is *taken in kernel
mode*. Its trap entry tells that idle tick apart from a trap from a process by reading
``status.PMODE``. What goes wrong, exactly, under trap-and-emulate with ``strict=False``:

1. the deprivileged guest kernel runs in the host's user mode; the first time it idles, the timer
   interrupt is taken in its kernel mode at ``hal_idle_window`` (the hypervisor reflects it with
   PMODE = kernel in the guest's *virtual* status);
2. the trap entry's ``csrr t0, status`` does not exit: it returns the *real* status,
   ``REAL_STATUS_WHILE_GUEST_RUNS`` (user mode, PMODE = 0);
3. so the kernel takes the "trap from user mode" path, looks for the current process to save its
   registers into, finds none (it was idle) and panics: ``[kernel] PANIC: timer interrupt from
   user mode, but no process is running (pc <hal_idle_window>)``, exit code 100. The processes
   still asleep never finish and there is no summary.

Everything before that first idle tick is right: traps that really come from a process read
PMODE = 0 too, the right answer by luck. On bare metal (strict or not: the kernel reads status in
kernel mode), under trap-and-emulate on a strict machine (the read traps and the hypervisor
answers with the virtual status), under binary translation (the translator replaces the read by a
call-out) and under hardware assist (the CPU keeps a virtual status), the same kernel is correct.
"""

from __future__ import annotations

import pytest
from test_minikernel import (
    NAMES,
    OUTCOMES,
    ROW,
    ref_kernel_lines,
    ref_syscalls,
    ref_user_lines,
    sizes,
)

from vmlab import Hypervisor, Machine, images
from vmlab.core.layout import ST_CSR, ST_GCSR
from vmlab.hypervisor.vm import REAL_STATUS_WHILE_GUEST_RUNS
from vmlab.isa.arch import CSR_CAUSE, CSR_EPC, CSR_STATUS, ST_MODE, ST_PMODE

# Small sizes, and a ticker that sleeps long enough to outlive the others under every technique
# (trap-and-emulate makes the others take many more ticks), so that every run idles.
DEFINES = dict(
    PRIMES_N=300,
    PRIMES_EVERY=20,
    COLLATZ_N=200,
    COLLATZ_CHUNK=50,
    TICKER_N=2,
    TICKER_SLEEP=120,
    PING_N=30,
    PING_EVERY=10,
)
PANIC_EXIT = 100
TIMER = 0x8000_0000
CYCLES = 400_000_000  # far more than any of these runs needs


def image(**defines: int):
    return images.load("minikernel", **{**DEFINES, **defines})


def run_vm(mode: str, strict: bool, img=None):
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("guest", img or image(), memory="4M", mode=mode, strict=strict)
    vm.start()
    hv.run(cycles=CYCLES)
    assert vm.state == "stopped", vm
    return vm


def per_process(output: str) -> dict[int, tuple[list[str], tuple | None]]:
    """pid -> (the lines it printed and the kernel's line about its end, in order; its summary
    row as (name, system calls, outcome), or None without a summary)."""
    lines = output.splitlines()
    rows = {}
    for line in lines:
        if r := ROW.match(line):
            outcome = ("exit", int(r[6])) if r[6] is not None else ("killed", r[7])
            rows[int(r[1])] = (r[2], int(r[4]), outcome)
    return {
        pid: (
            [x for x in lines if x.startswith((f"[{pid}] ", f"[kernel] pid {pid} "))],
            rows.get(pid),
        )
        for pid in range(1, len(NAMES) + 1)
    }


def reference(img, defines: dict[str, int] = DEFINES) -> dict[int, tuple[list[str], tuple]]:
    """What per_process must give for a correct run of a build with these workload sizes,
    computed in Python (test_minikernel)."""
    z = sizes(**defines)
    user, ends, calls = ref_user_lines(z), ref_kernel_lines(img), ref_syscalls(z)
    return {
        pid: ([*user[pid], ends[pid]], (NAMES[pid - 1], calls[pid], OUTCOMES[pid - 1]))
        for pid in user
    }


def idle_ticks(output: str) -> int:
    """The summary's count of ticks taken while idle (in kernel mode)."""
    line = next(x for x in output.splitlines() if x.startswith("[kernel] timer interrupts: "))
    return int(line.split(", ")[1].split()[0])


def assert_correct(output: str, img) -> None:
    assert per_process(output) == reference(img)
    assert output.endswith("[kernel] all 7 processes ended as expected\n[kernel] power off\n"), (
        output[-500:]
    )
    assert idle_ticks(output) > 0  # the idle path (interrupts taken in kernel mode) was exercised


@pytest.fixture(scope="module")
def bare_metal() -> str:
    m = Machine(memory="4M")
    m.load(image())
    r = m.run(max_instructions=50_000_000)
    assert (r.reason, r.exit_code) == ("poweroff", 0), r
    return m.console.output


# ---- bare metal --------------------------------------------------------------------------------


def test_on_bare_metal_the_idle_ticks_are_interrupts_taken_in_kernel_mode(bare_metal) -> None:
    img = image()
    window = img.symbols["hal_idle_window"]
    m = Machine(memory="4M")
    m.load(img)
    m.add_breakpoint("trap_from_kernel_irq")
    hits = 0
    while (r := m.run(max_instructions=50_000_000)).reason == "breakpoint":
        hits += 1
        status = m.csr("status")
        assert status & ST_MODE and status & ST_PMODE  # in kernel mode, coming from kernel mode
        assert (m.csr("cause"), m.csr("epc")) == (TIMER, window)
    assert (r.reason, r.exit_code) == ("poweroff", 0)
    assert m.console.output == bare_metal
    assert hits == idle_ticks(bare_metal) > 0
    assert_correct(bare_metal, img)


def test_on_bare_metal_strict_does_not_matter(bare_metal) -> None:
    """The kernel reads status in kernel mode only: on real hardware it gets the truth."""
    m = Machine(memory="4M", strict=False)
    m.load(image())
    r = m.run(max_instructions=50_000_000)
    assert (r.reason, r.exit_code) == ("poweroff", 0)
    assert m.console.output == bare_metal


# ---- trap-and-emulate on a machine that is not classically virtualizable -----------------------


def test_trap_and_emulate_on_a_non_strict_machine_misclassifies_the_idle_tick() -> None:
    img = image()
    s = img.symbols
    window = s["hal_idle_window"]
    vm = run_vm("trap-and-emulate", strict=False)
    out = vm.console.output

    # the visible result: a kernel panic at the first idle tick, exit code 100, no summary
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", PANIC_EXIT)
    assert out.splitlines()[-1] == (
        "[kernel] PANIC: timer interrupt from user mode, but no process is running "
        f"(pc {window:#010x})"
    )
    assert "[kernel] all processes have ended" not in out
    assert int.from_bytes(vm.read_guest(s["idle_ticks"], 4), "little") == 0
    alive = int.from_bytes(vm.read_guest(s["nr_alive"], 4), "little")
    assert alive > 0  # the sleepers never woke up again
    results, ref = per_process(out), reference(img)
    unfinished = [pid for pid in results if results[pid][0] != ref[pid][0]]
    assert len(unfinished) == alive and 4 in unfinished  # the ticker, at least, was asleep
    for pid, (lines, _row) in results.items():  # the others had run correctly up to then
        if pid not in unfinished:
            assert lines == ref[pid][0]

    # why: the guest's virtual status says the trap came from kernel mode (the truth) ...
    st = vm.cpu.st
    assert st[ST_GCSR + CSR_STATUS] & ST_MODE and st[ST_GCSR + CSR_STATUS] & ST_PMODE
    assert (st[ST_GCSR + CSR_CAUSE], st[ST_GCSR + CSR_EPC]) == (TIMER, window)
    # ... but the unprivileged `csrr status` read the real one: user mode, PMODE = 0
    assert st[ST_CSR + CSR_STATUS] == REAL_STATUS_WHILE_GUEST_RUNS
    assert not REAL_STATUS_WHILE_GUEST_RUNS & (ST_MODE | ST_PMODE)


def test_trap_and_emulate_on_a_strict_machine_is_correct(bare_metal) -> None:
    """The same kernel and image: there the `csrr status` traps and the hypervisor answers."""
    vm = run_vm("trap-and-emulate", strict=True)
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)
    assert_correct(vm.console.output, image())
    assert per_process(vm.console.output) == per_process(bare_metal)


@pytest.mark.parametrize(
    ("mode", "strict"),
    [("binary-translation", False), ("binary-translation", True), ("hw-assist", False)],
)
def test_binary_translation_and_hardware_assist_are_correct(
    bare_metal, mode: str, strict: bool
) -> None:
    """Binary translation replaces every sensitive instruction, `csrr status` included, by a
    call-out to the hypervisor before it runs; hardware assist gives the guest a virtual status.
    Both virtualize the non-strict machine correctly."""
    vm = run_vm(mode, strict=strict)
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)
    assert_correct(vm.console.output, image())
    assert per_process(vm.console.output) == per_process(bare_metal)
    if mode == "binary-translation":
        assert vm.stats.exit_count("bt-call") > 0 and vm.stats.exit_count("privileged") == 0


def test_the_paravirtual_kernel_is_correct_on_a_non_strict_machine(bare_metal) -> None:
    """The paravirtual kernel never reads status: it asks (trap_info), and gets the virtual one."""
    img = image(PV=1)
    vm = run_vm("paravirtual", strict=False, img=img)
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)
    assert_correct(vm.console.output, img)
    assert per_process(vm.console.output) == per_process(bare_metal)
