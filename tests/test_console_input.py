"""Console input: ``images/echo.s`` on bare metal (``Machine.console.feed``) and in VMs (``vm.feed``).

echo.s prints a banner and a "> " prompt, echoes each byte typed, prints each line in capitals and
powers off with exit code 0 on the line "quit". With nothing to read it sleeps in ``wfi`` with
only the console's input line enabled, so a waiting guest costs nothing until input arrives.
"""

from __future__ import annotations

import pytest

from vmlab import Hypervisor, Machine, VMStateError, assemble, images
from vmlab.core.layout import CONSOLE_IN_SIZE
from vmlab.hypervisor import MODES

EXIT_PATHS = ("python", "jit")
BANNER = 'echo: type a line; "quit" powers off\n'


def ref_echo(typed: str) -> str:
    """What echo.s prints for the bytes ``typed`` (ending in the line "quit"), from its comment."""
    out = [BANNER, "> "]
    for line in typed.replace("\r", "").split("\n"):
        out.append(line + "\n")
        if line == "quit":
            out.append("bye\n")
            break
        if line:
            out.append(line[:80].upper() + "\n")
        out.append("> ")
    return "".join(out)


def test_the_reference_says_what_the_images_comment_shows() -> None:
    assert ref_echo("hello\nquit\n") == f"{BANNER}> hello\nHELLO\n> quit\nbye\n"


# ---- bare metal ------------------------------------------------------------------------------
def echo_machine() -> Machine:
    m = Machine(memory="64K")
    m.load(images.load("echo"))
    return m


def test_bare_metal_echoes_a_line_and_powers_off_on_quit() -> None:
    m = echo_machine()
    m.console.feed("hello\nquit\n")
    r = m.run(max_instructions=1_000_000)
    assert (r.reason, r.exit_code) == ("poweroff", 0), r.message
    assert m.console.output == ref_echo("hello\nquit\n")
    assert m.console.pending_input == b""


def test_bare_metal_with_no_input_stops_idle_and_goes_on_when_fed() -> None:
    m = echo_machine()
    r = m.run(max_instructions=1_000_000)
    assert r.reason == "idle" and "waiting for input" in r.message
    assert m.console.output == BANNER + "> "
    again = m.run(max_instructions=1_000_000)  # still nothing to read: idle again, at once
    assert (again.reason, again.instructions) == ("idle", 0)
    m.console.feed("Mixed Case 123, ok?\r\nqu")  # a line and a half
    assert m.run(max_instructions=1_000_000).reason == "idle"
    m.console.feed("it\n")
    r = m.run(max_instructions=1_000_000)
    assert (r.reason, r.exit_code) == ("poweroff", 0)
    assert m.console.output == ref_echo("Mixed Case 123, ok?\nquit\n")
    assert "MIXED CASE 123, OK?\n" in m.console.output


def test_an_empty_line_prompts_again_and_a_long_line_is_cut() -> None:
    m = echo_machine()
    typed = "\n" + "x" * 100 + "\nquit\n"
    m.console.feed(typed)
    r = m.run(max_instructions=1_000_000)
    assert (r.reason, r.exit_code) == ("poweroff", 0)
    assert m.console.output == ref_echo(typed)
    assert "\n" + "X" * 80 + "\n" in m.console.output


def test_only_the_exact_line_quit_powers_off() -> None:
    m = echo_machine()
    m.console.feed("quitter\nQUIT\n quit\n")
    assert m.run(max_instructions=1_000_000).reason == "idle"
    assert m.console.output.endswith("QUITTER\n> QUIT\nQUIT\n>  quit\n QUIT\n> ")


# ---- in a VM -----------------------------------------------------------------------------------
def echo_vm(hv: Hypervisor, mode: str, exits: str = "python", name: str = "echo"):
    vm = hv.create_vm(name, images.load("echo"), memory="64K", mode=mode, exits=exits)
    vm.start()
    return vm


@pytest.mark.parametrize("exits", EXIT_PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_a_vm_echoes_a_line_and_powers_off_on_quit(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="4M")
    vm = echo_vm(hv, mode, exits)
    vm.feed("hello\nquit\n")
    hv.run(cycles=10_000_000)
    assert (vm.state, vm.stop_reason, vm.exit_code) == ("stopped", "poweroff", 0), vm.message
    assert vm.console.output == ref_echo("hello\nquit\n")


@pytest.mark.parametrize("exits", EXIT_PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_a_vm_waiting_for_input_costs_nothing_and_wakes_when_fed(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="4M")
    vm = echo_vm(hv, mode, exits)
    busy = hv.create_vm("busy", assemble("_start: j _start"), memory="64K", mode=mode)
    busy.start()
    hv.run(cycles=200_000)
    assert vm.state == "running" and not vm.runnable  # asleep in wfi
    assert vm.console.output == BANNER + "> "
    s = vm.stats
    guest, hyp, instructions, idle = (
        s.guest_cycles,
        s.hypervisor_cycles,
        s.instructions,
        s.idle_cycles,
    )
    hv.run(cycles=1_000_000)  # the busy VM has the host to itself
    assert (s.guest_cycles, s.hypervisor_cycles, s.instructions) == (guest, hyp, instructions)
    assert s.idle_cycles >= idle + 1_000_000
    assert busy.stats.guest_cycles > 900_000
    vm.feed("wake up\n")
    assert vm.runnable
    hv.run(cycles=200_000)
    assert vm.console.output == BANNER + "> wake up\nWAKE UP\n> "
    assert s.instructions > instructions
    assert vm.state == "running" and not vm.runnable  # waiting for the next line


def test_a_vm_alone_waiting_for_input_ends_the_run_at_once() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = echo_vm(hv, "hw-assist")
    hv.run(cycles=100_000)
    clock = hv.clock
    assert hv.run(cycles=10_000_000) == 0  # nothing can run until input comes
    assert hv.clock == clock
    vm.feed("quit\n")
    hv.run(cycles=10_000_000)
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)


def test_input_fed_before_start_is_read_once_started() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("early", images.load("echo"), memory="64K")
    vm.feed("hi\nquit\n")
    assert vm.console.pending_input == b"hi\nquit\n"
    vm.start()
    hv.run(cycles=10_000_000)
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)
    assert vm.console.output == ref_echo("hi\nquit\n")


def test_feeding_a_deleted_vm_is_a_clear_error() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("gone", images.load("echo"), memory="64K")
    vm.delete()
    with pytest.raises(
        VMStateError,
        match=r"cannot feed VM 'gone': it is deleted; feed is allowed when created or running",
    ):
        vm.feed("hello\n")


def test_a_feed_that_overflows_the_queue_is_refused_and_queues_nothing() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = echo_vm(hv, "trap-and-emulate")
    hv.run(cycles=100_000)
    assert not vm.runnable
    vm.feed("abc")
    with pytest.raises(ValueError, match=r"console input queue full: 3 bytes pending, 65534 more"):
        vm.feed("x" * (CONSOLE_IN_SIZE - 2))
    assert vm.console.pending_input == b"abc"
    vm.feed("x" * (CONSOLE_IN_SIZE - 3))  # exactly full is fine


def test_a_refused_feed_does_not_wake_a_waiting_vm() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = echo_vm(hv, "hw-assist")
    hv.run(cycles=100_000)
    with pytest.raises(ValueError, match="console input queue full"):
        vm.feed(b"y" * (CONSOLE_IN_SIZE + 1))
    assert vm.console.pending_input == b""
    assert not vm.runnable


def test_a_machine_feed_that_overflows_is_refused_and_queues_nothing() -> None:
    m = echo_machine()
    m.console.feed("ab")
    with pytest.raises(ValueError, match=r"console input queue full: 2 bytes pending"):
        m.console.feed(b"z" * CONSOLE_IN_SIZE)
    assert m.console.pending_input == b"ab"


def test_feeding_a_number_is_refused_rather_than_typed_as_zero_bytes() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("e", images.load("echo"), memory="64K")
    with pytest.raises(TypeError, match="console input is str or bytes, not int"):
        vm.feed(5)
    assert vm.console.pending_input == b""
    vm.feed(bytearray(b"ok"))
    assert vm.console.pending_input == b"ok"
