"""The compromised hypervisor: a malicious guest, a planted hypervisor bug, and a leaked secret.

``images/secret.s`` keeps "TOP-SECRET:" + KEY in its RAM (at ``vault``, never printed).
``images/rogue_vm.s`` asks the console-write hypercall to print memory beyond its own RAM, one
page after another, and prints what comes back. The safe hypervisor (the default) refuses every
such buffer; ``Hypervisor(UNSAFE_unchecked_hypercall_buffers=True)`` trusts it and reads host
memory past the rogue's first frame: the neighbour created after it (the next host frames) leaks.

Each expected console output below is built in Python from the programs' documented behaviour
(rogue_vm.s header: one line per probe, raw bytes for an answered one) and, for a leak, from the
victim's own memory read through the host-side API (``vm.read_guest``): the leaked bytes must be
exactly the neighbour's.
"""

from __future__ import annotations

import numpy as np
import pytest

from vmlab import VM, Hypervisor, assemble, images
from vmlab.devices.console import MAX_KEPT_OUTPUT
from vmlab.hypervisor import MODES
from vmlab.hypervisor import hypercalls as hc
from vmlab.isa.arch import PAGE_SIZE

M32 = 0xFFFFFFFF
RAM = 64 * 1024  # each VM's memory in these tests
SECRET = b"TOP-SECRET:c0ffee42"  # the default KEY of images/secret.s
PAGES, WINDOW = 32, 48  # rogue_vm.s defaults: probes, and bytes asked for per probe
EXITS = ("python", "jit")


def attack(mode: str, unsafe: bool, exits: str = "python", **secret_defines: int) -> tuple[VM, VM]:
    """A host with the rogue VM first (lower frames) and the secret-keeping VM next, run to rest."""
    hv = Hypervisor(host_memory="1M", UNSAFE_unchecked_hypercall_buffers=unsafe)
    rogue = hv.create_vm("rogue", images.load("rogue_vm"), memory=RAM, mode=mode, exits=exits)
    victim = hv.create_vm(
        "victim", images.load("secret", **secret_defines), memory=RAM, mode=mode, exits=exits
    )
    rogue.start()
    victim.start()
    hv.run(cycles=20_000_000)  # the rogue halts; the victim idles in wfi for ever
    assert rogue.state == "stopped" and rogue.stop_reason == "halt", rogue.message
    assert victim.state == "running" and victim.stop_reason is None, victim.message
    return rogue, victim


def probes() -> list[int]:
    """The guest-physical addresses rogue_vm probes: one per page from the end of its RAM."""
    return [RAM + i * PAGE_SIZE for i in range(PAGES)]


def banner() -> bytes:
    """rogue_vm's first line (printed with a legitimate console-write hypercall)."""
    return f"rogue_vm: asking the hypervisor for memory beyond my RAM ({RAM:#010x})\n".encode()


def vault() -> int:
    """Where secret.s keeps its secret (guest-physical)."""
    return images.load("secret").symbols["vault"]


def victim_stored_its_secret(victim: VM, secret: bytes = SECRET) -> None:
    """The secret is really in the victim's RAM (there was something to steal)."""
    assert victim.read_guest(vault(), len(secret) + 1) == secret + b"\0"
    assert victim.console.output == (
        f"secret: my secret is at {vault():#010x} (and I will not print it)\n"
        "secret: stored; idling\n"
    )


def test_the_planted_bug_is_off_by_default() -> None:
    assert Hypervisor(host_memory="1M").UNSAFE_unchecked_hypercall_buffers is False


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_the_safe_hypervisor_refuses_every_probe_and_nothing_leaks(mode: str, exits: str) -> None:
    rogue, victim = attack(mode, unsafe=False, exits=exits)
    victim_stored_its_secret(victim)
    expected = banner()
    for addr in probes():
        expected += f"probe {addr:#010x}: refused (error {hc.E_BADARG})\n".encode()
    expected += f"rogue_vm: 0 of {PAGES} probes answered\n".encode()
    assert rogue.console.output_bytes == expected
    assert rogue.exit_code == 0
    assert b"TOP-SECRET" not in rogue.console.output_bytes
    # the banner itself went through the same hypercall, from a buffer inside the rogue's RAM
    assert rogue.stats.hypercalls["console_write"] == 1 + PAGES


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_the_unsafe_hypervisor_leaks_the_neighbours_secret(mode: str, exits: str) -> None:
    rogue, victim = attack(mode, unsafe=True, exits=exits)
    victim_stored_its_secret(victim)
    # the bug assumes guest memory is one run of host frames starting at the VM's first frame;
    # frames are handed out lowest first, so the victim's RAM follows the rogue's
    assert victim.frames[0] == rogue.frames[-1] + 1
    assert np.array_equal(np.diff(np.concatenate([rogue.frames, victim.frames])), [1] * 31)
    expected = banner()
    for addr in probes():
        if addr - RAM < RAM:  # inside the victim's RAM: exactly the victim's bytes
            window = victim.read_guest(addr - RAM, WINDOW)
        else:  # beyond it: free host memory, which the host keeps scrubbed
            window = bytes(WINDOW)
        expected += f"probe {addr:#010x}: ".encode() + window + b"\n"
    expected += f"rogue_vm: {PAGES} of {PAGES} probes answered\n".encode()
    out = rogue.console.output_bytes
    assert out == expected
    assert f"probe {RAM + vault():#010x}: ".encode() + SECRET + b"\0" in out
    assert rogue.exit_code == PAGES
    assert b"TOP-SECRET" not in victim.console.output_bytes  # the victim never printed it


def test_the_leak_is_the_value_in_the_neighbours_ram_not_text_in_an_image() -> None:
    rogue, victim = attack("hw-assist", unsafe=True, KEY=0x12345678)
    victim_stored_its_secret(victim, b"TOP-SECRET:12345678")
    assert b"TOP-SECRET:12345678" in rogue.console.output_bytes
    assert b"12345678" not in b"".join(
        s.data for s in images.load("secret", KEY=0x12345678).segments
    )


def test_a_victim_created_before_the_rogue_is_out_of_reach_of_this_bug() -> None:
    # the planted bug only reads forward from the rogue's first frame (lower frames never leak)
    hv = Hypervisor(host_memory="1M", UNSAFE_unchecked_hypercall_buffers=True)
    victim = hv.create_vm("victim", images.load("secret"), memory=RAM, mode="hw-assist")
    rogue = hv.create_vm("rogue", images.load("rogue_vm"), memory=RAM, mode="hw-assist")
    victim.start()
    rogue.start()
    hv.run(cycles=20_000_000)
    victim_stored_its_secret(victim)
    assert rogue.exit_code == PAGES and b"TOP-SECRET" not in rogue.console.output_bytes


@pytest.mark.parametrize(
    ("buffer", "length", "result"),
    [
        (RAM - 4, 4, 4),  # the last word of RAM: fine
        (0x1000, 16, 16),
        (RAM - 4, 5, hc.E_BADARG),  # one byte past the end
        (RAM, 1, hc.E_BADARG),
        (0x1000, RAM, hc.E_BADARG),
        (0, M32, hc.E_BADARG),  # a length that wraps
        (0xFFFFFFF0, 0x20, hc.E_BADARG),  # an address that wraps
        (0xF0000000, 4, hc.E_BADARG),  # device registers are not a buffer
    ],
)
@pytest.mark.parametrize("mode", ["paravirtual", "hw-assist"])
def test_console_write_accepts_exactly_buffers_inside_guest_ram(
    mode: str, buffer: int, length: int, result: int
) -> None:
    hv = Hypervisor(host_memory="1M")
    src = f"""
    _start: li a0, {hc.HC_CONSOLE_WRITE}
            li a1, {buffer}
            li a2, {length}
            hcall
            halt                    # exit code = the hypercall's result
    """
    vm = hv.create_vm("v", assemble(src), memory=RAM, mode=mode)
    vm.write_guest(RAM - 4, b"END!")
    vm.start()
    hv.run(cycles=1_000_000)
    assert vm.stop_reason == "halt" and vm.exit_code == result & M32
    printed = vm.console.output_bytes
    if result < 0:
        assert printed == b""
    else:
        assert printed == vm.read_guest(buffer, length)


@pytest.mark.parametrize("mode", ["paravirtual", "hw-assist"])
def test_console_write_writes_at_most_a_page_per_call_and_the_host_keeps_a_bounded_tail(
    mode: str,
) -> None:
    """A guest printing all of its RAM over and over cannot make the host hold it all."""
    hv = Hypervisor(host_memory="1M")
    src = f"""
    _start: li   s0, 0
    again:  li   a0, {hc.HC_CONSOLE_WRITE}
            li   a1, 0
            li   a2, {RAM}          # all of its RAM, every time
            hcall
            mv   s1, a0             # bytes written
            addi s0, s0, 1
            li   t0, 3000
            bltu s0, t0, again
            mv   a0, s1
            halt                    # exit code = what the last call wrote
    """
    vm = hv.create_vm("v", assemble(src), memory=RAM, mode=mode)
    vm.write_guest(RAM - 16, b"the end of RAM!\n")
    vm.start()
    hv.run(cycles=2_000_000_000)
    assert vm.stop_reason == "halt", vm.message
    assert vm.exit_code == hc.CONSOLE_WRITE_MAX  # a page per call, not all 64 KiB
    assert vm.stats.hypercalls["console_write"] == 3000
    out = vm.console.output_bytes
    assert len(out) == MAX_KEPT_OUTPUT  # the newest output, bounded
    assert vm.console.dropped == 3000 * hc.CONSOLE_WRITE_MAX - MAX_KEPT_OUTPUT
    assert out[-hc.CONSOLE_WRITE_MAX :] == vm.read_guest(0, hc.CONSOLE_WRITE_MAX)


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", ["paravirtual", "hw-assist"])
def test_trying_every_hypercall_number_keeps_the_hosts_count_table_small(
    mode: str, exits: str
) -> None:
    """Unknown numbers are all counted under one name: a guest cannot grow host memory that way."""
    hv = Hypervisor(host_memory="1M")
    src = """
    _start: li   s0, 1000           # unknown numbers from here
            li   s1, 6000
            li   s2, 0              # calls refused with E_BADCALL
    again:  mv   a0, s0
            hcall
            li   t0, -1
            bne  a0, t0, next
            addi s2, s2, 1
    next:   addi s0, s0, 1
            bltu s0, s1, again
            mv   a0, s2
            halt                    # exit code = the refused calls
    """
    vm = hv.create_vm("v", assemble(src), memory=RAM, mode=mode, exits=exits)
    vm.start()
    hv.run(cycles=1_000_000_000)
    assert vm.stop_reason == "halt", vm.message
    assert vm.exit_code == 5000
    assert vm.stats.hypercalls == {hc.UNKNOWN: 5000}
