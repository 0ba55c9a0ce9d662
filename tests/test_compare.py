"""``vmlab.compare``: two VMs or snapshots, side by side, and exactly where they differ.

Each test makes the differences itself (a byte written, a register set, input fed, a different
configuration, or one program run on different input), so the expected differences are known
before ``compare`` is called, and checks that compare reports those and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest

import vmlab
from vmlab import VM, Hypervisor, assemble, compare, images
from vmlab.comparison import Comparison, ConsoleDifference, PageDifference
from vmlab.core.layout import DEV_DSK_SECTOR
from vmlab.devices.disk import Disk
from vmlab.hypervisor import MODES
from vmlab.isa.arch import A0, PAGE_SIZE

ECHO = """
        .include "lib/vl32.s"
_start: li      t0, CONSOLE_BASE
        la      s0, buf
loop:   lw      t1, CON_RX(t0)          # 0xffffffff when no input is waiting
        li      t2, -1
        beq     t1, t2, done
        sb      t1, 0(s0)               # keep it in buf ...
        sw      t1, CON_TX(t0)          # ... and echo it
        addi    s0, s0, 1
        j       loop
done:   la      t0, buf
        sub     a0, s0, t0              # exit code: bytes read
        halt
        .data
buf:    .space  64
"""


def echo_image() -> vmlab.Image:
    """The echo program (reads its console input into buf, echoes it, halts)."""
    return assemble(ECHO, include_dirs=[images.images_dir()])


def paused_sieve(hv: Hypervisor, name: str = "a", cycles: int = 40_000) -> VM:
    """A VM stopped part-way through a sieve (a state with memory, stack and output)."""
    vm = hv.create_vm(name, images.load("sieve", N=20000), memory="64K")
    vm.start()
    hv.run(cycles=cycles)
    vm.pause()
    return vm


def names(items: list) -> list[str]:
    """The names of a section's differences."""
    return [d.name for d in items]


# ---- same --------------------------------------------------------------------------------------
def test_compare_is_exported_from_vmlab() -> None:
    assert vmlab.compare is compare and "compare" in vmlab.__all__


def test_a_vm_compared_with_itself_is_same() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = paused_sieve(hv)
    cmp = compare(vm, vm)
    assert isinstance(cmp, Comparison) and cmp.same
    assert (cmp.config, cmp.status, cmp.registers, cmp.pages, cmp.console) == ([], [], [], [], [])
    assert (cmp.devices, cmp.disk_sectors) == ([], [])
    assert cmp.pages_compared == 16
    assert all(m.delta == 0 for m in cmp.metrics) and names(cmp.metrics)[0] == "instructions"
    assert cmp.summary() == "VM 'a' and VM 'a': same state"
    text = str(cmp)
    assert "registers: same" in text and "pages: same (16 compared)" in text


def test_a_fresh_clone_and_a_snapshot_are_the_same_state_as_their_source() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = paused_sieve(hv)
    snap = vm.snapshot("mid")
    linked, full = vm.clone("linked"), vm.clone("full", linked=False)
    for other in (snap, linked, full):
        assert compare(vm, other).same, compare(vm, other)
        assert compare(other, vm).same
    assert compare(snap, full).same
    assert compare(vm, snap).a == "VM 'a'" and compare(vm, snap).b == "snapshot 'mid' of VM 'a'"


def test_identical_vms_on_two_hypervisors_are_the_same() -> None:
    a = Hypervisor(host_memory="1M").create_vm("x", images.load("fib", N=10), memory="64K")
    b = Hypervisor(host_memory="2M").create_vm("x", images.load("fib", N=10), memory="64K")
    cmp = compare(a, b)
    assert cmp.same and cmp.a == "VM 'x' (a)" and cmp.b == "VM 'x' (b)"


# ---- exactly where they differ ---------------------------------------------------------------------
@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_two_clones_run_on_different_input_differ_exactly_where_expected(
    mode: str, exits: str
) -> None:
    hv = Hypervisor(host_memory="4M")
    image = echo_image()
    a = hv.create_vm("a", image, memory="64K", mode=mode, exits=exits)
    b = a.clone("b")
    a.console.feed("abc")
    b.console.feed("abd")  # the same program, one different input byte
    a.start()
    b.start()
    hv.run(cycles=2_000_000)
    assert (a.exit_code, b.exit_code) == (3, 3)
    cmp = compare(a, b)
    assert not cmp.same
    assert cmp.config == [] and cmp.status == [] and cmp.devices == []
    # buf holds the input: one byte differs, the third
    buf = image.symbols["buf"]
    assert cmp.pages == [
        PageDifference(buf // PAGE_SIZE, 1, ((buf % PAGE_SIZE + 2, ord("c"), ord("d")),))
    ]
    assert cmp.console == [ConsoleDifference("output", 2, 3, 3, b"abc", b"abd")]
    # the same instructions ran on both (every register ends equal), but the guest clock counts
    # host time, and b's first slice began after a's
    assert names(cmp.registers) == ["guest.cycle"]
    assert cmp.registers[0].b > cmp.registers[0].a
    metrics = {m.name: m for m in cmp.metrics}
    assert metrics["instructions"].delta == 0 and metrics["instructions"].a > 0


def test_host_side_changes_show_up_in_their_own_sections() -> None:
    hv = Hypervisor(host_memory="4M")
    a = paused_sieve(hv)
    b = a.clone("b", linked=False)
    b.write_guest(0x3FFE, b"xyz")  # straddles pages 3 and 4
    b.cpu.regs[A0] = int(a.cpu.regs[A0]) ^ 0x80000001
    b.console.feed("typed")
    cmp = compare(a, b)
    old = a.read_guest(0x3FFE, 3)
    assert cmp.pages == [
        PageDifference(3, 2, ((0xFFE, old[0], ord("x")), (0xFFF, old[1], ord("y")))),
        PageDifference(4, 1, ((0, old[2], ord("z")),)),
    ]
    assert names(cmp.registers) == ["a0"]
    assert cmp.registers[0].a ^ cmp.registers[0].b == 0x80000001
    assert cmp.console == [ConsoleDifference("input", 0, 0, 5, b"", b"typed")]
    assert cmp.config == [] and cmp.devices == []
    assert cmp.summary() == "VM 'a' and VM 'b' differ: 1 register, 2 pages, 1 console stream"


def test_configuration_differences_are_listed_by_name() -> None:
    hv = Hypervisor(host_memory="4M")
    a = hv.create_vm("a", images.load("fib", N=10), memory="64K")
    b = hv.create_vm(
        "b",
        images.load("fib", N=11),
        memory="128K",
        mode="paravirtual",
        shares=500,
        strict=False,
        exits="jit",
        disk=Disk.memory(4096),
    )
    cmp = compare(a, b)
    assert names(cmp.config) == ["mode", "memory", "shares", "strict", "exits", "disk", "image"]
    assert [(d.a, d.b) for d in cmp.config[:5]] == [
        ("hw-assist", "paravirtual"),
        (64 * 1024, 128 * 1024),
        (1000, 500),
        (True, False),
        ("python", "jit"),
    ]
    assert (cmp.config[5].a, cmp.config[5].b) == (None, 4096)
    assert cmp.pages_compared == 16  # the pages both have
    # fib.s loads N three times (li a0, N): three immediates on the code page, 10 and 11
    assert [p.gfn for p in cmp.pages] == [1] and cmp.pages[0].differing == 3
    assert [(x, y) for _, x, y in cmp.pages[0].first] == [(10, 11)] * 3
    assert names(cmp.registers) == ["sp"]  # the loader puts sp at the top of RAM
    assert ["memory", "64K", "128K"] in [line.split() for line in str(cmp).splitlines()]


def test_disks_and_device_registers_are_compared() -> None:
    hv = Hypervisor(host_memory="4M")
    a = hv.create_vm("a", images.load("hello"), memory="64K", disk=Disk.memory(8 * 512))
    b = a.clone("b", linked=False)
    assert compare(a, b).same
    b.disk.data[3 * 512 + 7] = 1
    b.disk.data[5 * 512] = 1
    b.cpu.st[DEV_DSK_SECTOR] = 5
    cmp = compare(a, b)
    assert cmp.disk_sectors == [3, 5]
    assert names(cmp.devices) == ["disk.sector"] and (cmp.devices[0].a, cmp.devices[0].b) == (0, 5)
    assert not cmp.same and cmp.registers == [] and cmp.pages == []
    assert "disk: 2 sectors differ: 3, 5" in str(cmp)


def test_status_and_metrics_are_reported_but_do_not_make_states_different() -> None:
    hv = Hypervisor(host_memory="4M")
    a = paused_sieve(hv)
    b = a.clone("b", linked=False)
    b.stats.instructions += 1000  # accounting is not machine state
    b.stop()  # nor is the VMM's lifecycle bookkeeping
    cmp = compare(a, b)
    assert cmp.same
    assert names(cmp.status) == ["state", "stop_reason"]
    assert {m.name: m.delta for m in cmp.metrics}["instructions"] == 1000


# ---- snapshots --------------------------------------------------------------------------------------
def test_snapshots_compare_like_the_states_they_record() -> None:
    hv = Hypervisor(host_memory="8M")
    vm = paused_sieve(hv, cycles=30_000)
    snap1 = vm.snapshot("one")
    at1 = vm.clone("at-one", linked=False)
    vm.resume()
    hv.run(cycles=30_000)
    vm.pause()
    vm.write_guest(0x8000, b"host wrote this")
    snap2 = vm.snapshot("two")  # incremental: only the pages written since "one"
    assert snap2.incremental and 0 < snap2.pages_stored < 16
    at2 = vm.clone("at-two", linked=False)
    by_snapshots, by_clones = compare(snap1, snap2), compare(at1, at2)
    assert not by_snapshots.same
    for section in ("config", "registers", "pages", "console", "devices", "disk_sectors"):
        assert getattr(by_snapshots, section) == getattr(by_clones, section), section
    assert 8 in [p.gfn for p in by_snapshots.pages]
    # a VM against a snapshot of itself: differs after running on, same again after a restore
    vm.resume()
    hv.run(cycles=30_000)
    vm.pause()
    assert not compare(snap2, vm).same
    vm.restore(snap1)
    assert compare(snap1, vm).same and compare(vm, at1).same


# ---- output -----------------------------------------------------------------------------------------
def test_text_and_html_show_each_difference() -> None:
    hv = Hypervisor(host_memory="4M")
    a = hv.create_vm("<web&1>", echo_image(), memory="64K")
    b = a.clone("b")
    a.console.feed("abc")
    b.console.feed("abd")
    a.start()
    b.start()
    hv.run(cycles=2_000_000)
    cmp = compare(a, b)
    text = str(cmp)
    assert text.splitlines()[:3] == [
        "a = VM '<web&1>'",
        "b = VM 'b'",
        "VM '<web&1>' and VM 'b' differ: 1 register, 1 page, 1 console stream",
    ]
    assert "page 2 (0x00002000): 1 byte differs; a/b at +0x002: 63/64" in text
    assert "output: 3 vs 3 bytes, equal up to byte 2" in text and "a ends 'abc'" in text
    assert "guest.cycle" in text and "config: same" in text and "devices: same" in text
    assert (
        repr(cmp)
        == "<Comparison VM '<web&1>' and VM 'b' differ: 1 register, 1 page, 1 console stream>"
    )
    page = cmp._repr_html_()
    assert page.startswith("<table>") and page.endswith("</table>")
    assert "&lt;web&amp;1&gt;" in page and "<web&1>" not in page  # names are escaped
    assert "page 2 (0x00002000)" in page and "guest.cycle" in page and "instructions" in page


def test_the_text_is_deterministic() -> None:
    def run() -> str:
        hv = Hypervisor(host_memory="4M")
        a = paused_sieve(hv)
        b = a.clone("b")
        b.resume()
        hv.run(cycles=20_000)
        return str(compare(a, b))

    first = run()
    assert first == run() and "pages (" in first


def test_long_lists_are_cut_in_the_text_but_complete_in_the_fields() -> None:
    hv = Hypervisor(host_memory="4M")
    a = hv.create_vm("a", images.load("hello"), memory="256K")
    b = a.clone("b", linked=False)
    b.write_guest(0x10000, np.full(30 * PAGE_SIZE, 0xEE, dtype=np.uint8).tobytes())
    cmp = compare(a, b)
    assert [p.gfn for p in cmp.pages] == list(range(16, 46))
    assert all(p.differing == PAGE_SIZE and len(p.first) == 8 for p in cmp.pages)
    assert "  ... and 10 more" in str(cmp)


# ---- bad input ------------------------------------------------------------------------------------
def test_compare_rejects_what_it_cannot_compare() -> None:
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("a", images.load("hello"), memory="64K")
    with pytest.raises(TypeError, match=r"compare\(\) takes VMs and snapshots .*not int"):
        compare(vm, 42)
    with pytest.raises(TypeError, match="not str"):
        compare("a", vm)
    snap = vm.snapshot("s")
    snap.delete()
    with pytest.raises(ValueError, match="snapshot 's' of VM 'a' was deleted"):
        compare(vm, snap)
    vm.delete()
    with pytest.raises(ValueError, match="VM 'a' was deleted"):
        compare(vm, vm)
