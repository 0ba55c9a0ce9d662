"""The bare-metal ``Machine`` API: load/run/step/reset, breakpoints, inspection, errors, save and
restore, determinism and counters (vmlab/machine.py, docs/machine.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import M32, ORG, halted, load_asm, run_asm

from vmlab import Machine, MachineError, assemble, assemble_file, images
from vmlab.devices.disk import Disk
from vmlab.images import images_dir
from vmlab.isa.arch import CSR_NUMBERS, ST_IE, ST_MODE
from vmlab.isa.table import BY_NAME

COUNT = """
_start: li a0, 0
        li t0, 10
loop:   addi a0, a0, 1
        addi t0, t0, -1
        bnez t0, loop
done:   halt
"""

# A busy program for determinism: timer interrupts every 700 cycles print '.', the main loop
# prints a digit per round, does loads/stores and sleeps in wfi; it ends after 12 ticks.
BUSY = f"""
        .equ CON, 0xF0000000
_start: la t0, trap
        csrw tvec, t0
        li t0, 1
        csrw ie, t0
        li t0, 700
        csrw timecmp, t0
        li t0, {ST_MODE | ST_IE}
        csrw status, t0
        li s0, CON
        la s1, buf
main:   li t1, 37
inner:  lw t2, 0(s1)
        add t2, t2, t1
        sw t2, 0(s1)
        addi t1, t1, -1
        bnez t1, inner
        andi t2, s2, 7
        addi t2, t2, '0'
        sw t2, 0(s0)
        addi s2, s2, 1
        li t3, 12
        bge s3, t3, finish
        wfi
        j main
finish: lw a0, 0(s1)
        halt
trap:   li t2, '.'
        sw t2, 0(s0)
        addi s3, s3, 1
        csrr t2, timecmp
        addi t2, t2, 700
        csrw timecmp, t2
        eret
        .data
buf:    .word 0
"""


def snapshot(m: Machine) -> tuple:
    """Everything observable about a finished run."""
    return (
        m.console.output,
        list(m.regs),
        m.pc,
        m.cycles,
        m.instructions,
        m.read(0, m.memory_size),
    )


# --- load / run / step / reset ----------------------------------------------------------------------
def test_load_sets_pc_to_the_entry_and_sp_to_the_top_of_ram():
    m = Machine(memory="256K")
    m.load(assemble("nop\n_start: halt"))
    assert (m.pc, m.regs["sp"], m.memory_size) == (ORG + 4, 256 * 1024, 256 * 1024)
    assert [m.regs[i] for i in range(16) if i != 2] == [0] * 15
    assert m.csr("status") == ST_MODE and m.state == "ready"


def test_load_copies_segments_and_clears_the_rest_of_ram():
    m = Machine(memory="64K")
    m.write(0x8000, b"junk")
    m.load(assemble(".org 0x2000\n_start: halt\n .data\n .word 0xCAFE"))
    assert m.read(0x8000, 4) == bytes(4)
    assert m.read_word(0x2000) == BY_NAME["halt"].opcode
    assert m.read_word(0x3000) == 0xCAFE


def test_run_runs_to_halt_and_reports_counts():
    m, res = run_asm(COUNT)
    assert (res.reason, res.exit_code, m.regs["a0"]) == ("halt", 10, 10)
    assert res.instructions == 2 + 3 * 10 + 1 == m.instructions
    assert res.cycles == m.cycles
    assert res.host_seconds >= 0
    assert str(res).startswith("halt: 33 instructions")


def test_step_executes_exactly_count_instructions():
    m = load_asm(COUNT)
    assert m.step().instructions == 1 and m.pc == ORG + 4
    res = m.step(5)
    assert (res.reason, res.instructions, m.instructions) == ("budget", 5, 6)
    assert not res.stopped


def test_step_stops_early_when_the_program_halts():
    m = load_asm("_start: nop\n halt")
    assert m.step(10).reason == "halt" and m.instructions == 2


def test_run_with_a_cycle_budget_stops_at_the_first_instruction_boundary_past_it():
    m, res = run_asm(COUNT, max_instructions=None, max_cycles=20)
    assert res.reason == "budget"
    assert 20 <= res.cycles < 20 + 20  # at most one instruction (a div is 20) beyond
    assert m.cycles == res.cycles


def test_zero_budget_runs_nothing():
    m = load_asm(COUNT)
    res = m.run(max_instructions=0)
    assert (res.reason, res.instructions, m.pc) == ("budget", 0, ORG)


def test_negative_budgets_are_refused():
    m = load_asm(COUNT)
    with pytest.raises(ValueError, match="max_instructions must be >= 0"):
        m.run(max_instructions=-1)
    with pytest.raises(ValueError, match="max_cycles must be >= 0"):
        m.run(max_cycles=-5)


def test_runs_continue_where_the_last_one_stopped():
    m = load_asm(COUNT)
    m.run(max_instructions=7)
    res = m.run()
    assert res.instructions == 33 - 7 and m.regs["a0"] == 10


def test_reset_restores_the_loaded_image_and_clears_the_stop():
    m, _ = run_asm("_start: la t0, v\n li t1, 9\n sw t1, 0(t0)\n halt\n .data\nv: .word 1")
    assert m.read_word(m.image.symbol("v")) == 9 and m.state == "halt"
    m.reset()
    assert m.read_word(m.image.symbol("v")) == 1
    assert (m.pc, m.regs["t1"], m.instructions, m.cycles, m.state) == (ORG, 0, 0, 0, "ready")
    assert m.run().reason == "halt"


def test_loading_a_new_image_replaces_the_old_one():
    m, _ = run_asm("_start: li a0, 1\n halt")
    m.load(assemble("_start: li a0, 2\n halt"))
    assert m.run().exit_code == 2


def test_console_output_accumulates_across_runs():
    prog = "_start: lui t0, 0xF000\n li t1, 'a'\n sw t1, 0(t0)\n li t1, 'b'\n sw t1, 0(t0)\n halt"
    m = load_asm(prog)
    m.run(max_instructions=3)
    assert m.console.output == "a"
    m.run()
    assert m.console.output == "ab"


# --- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["halt", "fault", "poweroff"])
def test_running_a_stopped_machine_raises_naming_the_state(state):
    src = {
        "halt": "_start: halt",
        "fault": "_start: .word 0xEE",
        "poweroff": "_start: li t0, 0xF0003000\n li t1, 1\n sw t1, 0(t0)",
    }[state]
    m, res = run_asm(src)
    assert res.reason == state and m.state == state
    with pytest.raises(
        MachineError, match=rf"machine is stopped \({state}: .*call reset\(\) or load\(\)"
    ):
        m.run()
    with pytest.raises(MachineError):
        m.step()


@pytest.mark.parametrize("size", ["3K", "32K", 65536 + 4, "2G", 0, "4T", "lots", "-1M", -4096])
def test_bad_memory_sizes_are_refused(size):
    with pytest.raises(ValueError, match=r"memory|size"):
        Machine(memory=size)


def test_memory_size_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError):
        Machine(memory=True)
    with pytest.raises(TypeError):
        Machine(memory=1.5)


@pytest.mark.parametrize(
    ("size", "expected"), [("64K", 65536), ("4M", 4 << 20), (8192 * 16, 131072)]
)
def test_memory_sizes_accept_units(size, expected):
    assert Machine(memory=size).memory_size == expected


def test_image_that_does_not_fit_in_ram_is_refused():
    m = Machine(memory="64K")
    with pytest.raises(ValueError, match=r"segment at 0x00010000 .* does not fit in 64K"):
        m.load(assemble(".org 0x10000\n_start: halt"))
    assert m.image is None


def test_image_reaching_one_byte_past_ram_is_refused():
    m = Machine(memory="64K")
    with pytest.raises(ValueError, match="does not fit"):
        m.load(assemble(".org 0xFFFC\n_start: halt\n .byte 1"))


# --- breakpoints -----------------------------------------------------------------------------------------
def test_breakpoint_stops_before_the_instruction():
    m = load_asm(COUNT)
    assert m.add_breakpoint("done") == m.image.symbol("done")
    res = m.run()
    assert (res.reason, res.pc, m.regs["a0"]) == ("breakpoint", m.image.symbol("done"), 10)
    assert "done" in res.message and not res.stopped
    assert res.instructions == 32  # the halt has not run


def test_continuing_from_a_breakpoint_steps_over_it():
    m = load_asm(COUNT)
    m.add_breakpoint("done")
    m.run()
    res = m.run()
    assert (res.reason, res.instructions) == ("halt", 1)


def test_breakpoint_by_address_in_a_loop_stops_every_iteration():
    m = load_asm(COUNT)
    m.add_breakpoint(m.image.symbol("loop") + 4)
    seen = []
    while (res := m.run()).reason == "breakpoint":
        seen.append(m.regs["a0"])
    assert res.reason == "halt" and seen == list(range(1, 11))


def test_breakpoint_at_the_entry_stops_before_the_first_instruction():
    m = load_asm(COUNT)
    m.add_breakpoint("_start")
    res = m.run()
    assert (res.reason, res.pc, res.instructions) == ("breakpoint", ORG, 0)
    assert m.run().reason == "halt"


def test_step_at_a_breakpoint_executes_that_instruction():
    m = load_asm(COUNT)
    m.add_breakpoint("loop")
    m.run()
    assert m.step().instructions == 1 and m.pc == m.image.symbol("loop") + 4


def test_removed_breakpoint_no_longer_stops():
    m = load_asm(COUNT)
    m.add_breakpoint("loop")
    m.run()
    m.remove_breakpoint("loop")
    assert m.breakpoints == []
    assert m.run().reason == "halt" and m.regs["a0"] == 10


def test_clear_breakpoints_removes_them_all():
    m = load_asm(COUNT)
    m.add_breakpoint("loop")
    m.add_breakpoint("done")
    assert m.breakpoints == [m.image.symbol("loop"), m.image.symbol("done")]
    m.clear_breakpoints()
    assert m.run().reason == "halt"


def test_breakpoint_survives_reset():
    m = load_asm(COUNT)
    m.add_breakpoint("done")
    m.run()
    m.reset()
    assert m.run().reason == "breakpoint"


def test_breakpoint_does_not_change_memory_or_counts():
    plain, _ = run_asm(COUNT)
    m = load_asm(COUNT)
    m.add_breakpoint("loop")
    while m.run().reason == "breakpoint":
        pass
    assert snapshot(m)[1:] == snapshot(plain)[1:]


def test_breakpoint_errors_name_the_problem():
    m = load_asm(COUNT)
    with pytest.raises(KeyError, match=r"no symbol 'lop'.*did you mean loop"):
        m.add_breakpoint("lop")
    with pytest.raises(ValueError, match="not 4-byte aligned"):
        m.add_breakpoint(0x1002)
    with pytest.raises(KeyError, match="no breakpoint at 0x00001000"):
        m.remove_breakpoint(0x1000)
    with pytest.raises(ValueError, match="no image is loaded"):
        Machine(memory="64K").add_breakpoint("main")
    for i in range(15):
        m.add_breakpoint(0x2000 + 4 * i)
    with pytest.raises(ValueError, match="at most 15 breakpoints"):
        m.add_breakpoint(0x3000)


# --- registers, memory and CSRs ------------------------------------------------------------------------
def test_registers_by_name_index_and_alias():
    m = load_asm(COUNT)
    m.regs["a0"] = 5
    m.regs["fp"] = 6
    assert m.regs[4] == m.regs["r4"] == m.regs["A0"] == 5
    assert m.regs["s0"] == m.regs[12] == 6
    assert m.regs.as_dict()["a0"] == 5 and len(m.regs) == 16


def test_registers_hold_unsigned_words_and_r0_ignores_writes():
    m = load_asm(COUNT)
    m.regs["t0"] = -1
    m.regs["zero"] = 7
    assert m.regs["t0"] == M32 and m.regs.signed("t0") == -1
    assert m.regs[0] == 0


def test_register_errors_name_the_problem():
    m = load_asm(COUNT)
    with pytest.raises(KeyError, match="no register 'x1'"):
        m.regs["x1"]
    with pytest.raises(IndexError, match=r"out of range 0\.\.15"):
        m.regs[16]


def test_read_write_and_words():
    m = Machine(memory="64K")
    m.write(0x100, b"\x01\x02\x03\x04\x05")
    assert m.read(0x101, 3) == b"\x02\x03\x04"
    assert m.read_word(0x100) == 0x04030201
    m.write_word(0x200, -2)
    assert m.read(0x200, 4) == b"\xfe\xff\xff\xff"


def test_memory_access_outside_ram_is_refused():
    m = Machine(memory="64K")
    with pytest.raises(IndexError, match=r"outside RAM \(0..0x10000\)"):
        m.read(0xFFFE, 4)
    with pytest.raises(IndexError):
        m.write(0x10000, b"x")
    with pytest.raises(IndexError):
        m.read(-1, 1)
    with pytest.raises(ValueError, match="not 4-byte aligned"):
        m.read_word(0x102)


def test_csr_by_name_and_number():
    m = halted("_start: li t0, 44\n csrw scratch, t0\n halt")
    assert m.csr("scratch") == m.csr(CSR_NUMBERS["scratch"]) == 44
    with pytest.raises(KeyError, match="no CSR 'bogus'"):
        m.csr("bogus")
    with pytest.raises(KeyError):
        m.csr(15)


def test_pc_can_be_set():
    m = load_asm("_start: li a0, 1\n halt\nother: li a0, 2\n halt")
    m.pc = m.image.symbol("other")
    assert m.run().exit_code == 2


def test_repr_shows_size_and_state():
    m, _ = run_asm("_start: halt", memory="64K")
    assert "64K" in repr(m) and "state=halt" in repr(m)


# --- save / restore -------------------------------------------------------------------------------------
def test_restored_state_resumes_exactly():
    whole, _ = run_asm(BUSY, max_instructions=None)
    m = load_asm(BUSY)
    m.run(max_instructions=500)
    saved = m.save_state()
    m.run()
    first = snapshot(m)
    m.restore_state(saved)
    assert m.run().reason == "halt"
    assert snapshot(m) == first == snapshot(whole)


def test_state_restores_into_another_machine():
    m = load_asm(BUSY)
    m.run(max_instructions=777)
    saved = m.save_state()
    other = Machine(memory="1M")
    other.load(m.image)
    other.restore_state(saved)
    assert other.run().reason == "halt"
    m.run()
    assert snapshot(other) == snapshot(m)


def test_saved_state_is_a_copy():
    m = load_asm(COUNT)
    saved = m.save_state()
    m.run()
    assert saved["cpu"]["regs"][4] == 0
    m.restore_state(saved)
    assert m.state == "ready" and m.regs["a0"] == 0 and m.instructions == 0


def test_restoring_a_stopped_state_keeps_it_stopped():
    m, _ = run_asm(COUNT)
    saved = m.save_state()
    m.reset()
    m.restore_state(saved)
    with pytest.raises(MachineError, match="halt"):
        m.run()


def test_restore_keeps_the_console_output_and_pending_input():
    m = load_asm("_start: lui t0, 0xF000\n li t1, 'x'\n sw t1, 0(t0)\n lw a0, 4(t0)\n halt")
    m.console.feed("yz")
    m.run(max_instructions=3)
    saved = m.save_state()
    m.console.feed("!")
    m.run()
    m.restore_state(saved)
    assert m.console.output == "x" and m.console.pending_input == b"yz"
    m.run()
    assert m.regs["a0"] == ord("y")


def test_restore_into_a_different_machine_is_refused():
    saved = load_asm(COUNT, memory="1M").save_state()
    with pytest.raises(ValueError, match="saved state is for 1M of RAM, this machine has 64K"):
        Machine(memory="64K").restore_state(saved)
    with pytest.raises(ValueError, match="disk does not match"):
        Machine(memory="1M", disk=Disk.memory(1024)).restore_state(saved)


def test_restore_brings_back_the_disk_contents():
    disk = Disk.memory(1024)
    m = load_asm(COUNT, disk=disk)
    saved = m.save_state()
    disk.data[:4] = [1, 2, 3, 4]
    m.restore_state(saved)
    assert disk.read_sector(0)[:4] == bytes(4)


# --- determinism ----------------------------------------------------------------------------------------
def test_two_runs_of_the_same_program_are_identical():
    a, ra = run_asm(BUSY, max_instructions=None)
    b, rb = run_asm(BUSY, max_instructions=None)
    assert ra.reason == rb.reason == "halt"
    assert snapshot(a) == snapshot(b)
    assert a.console.output.count(".") == 12
    assert a.stats.interrupts == 12 and a.stats.idle_cycles > 0


@pytest.mark.parametrize(
    "budget", [{"max_instructions": 1}, {"max_instructions": 7}, {"max_cycles": 13}]
)
def test_run_split_into_small_budgets_is_identical_to_one_run(budget):
    whole, _ = run_asm(BUSY, max_instructions=None)
    m = load_asm(BUSY)
    runs = 0
    while (res := m.run(**budget)).reason == "budget":
        runs += 1
    assert res.reason == "halt" and runs > 50
    assert snapshot(m) == snapshot(whole)
    assert m.stats.idle_cycles == whole.stats.idle_cycles
    assert m.stats.interrupts == whole.stats.interrupts


def test_breakpoint_stops_do_not_change_the_run():
    whole, _ = run_asm(BUSY, max_instructions=None)
    m = load_asm(BUSY)
    m.add_breakpoint("trap")
    m.add_breakpoint("main")
    stops = 0
    while m.run().reason == "breakpoint":
        stops += 1
    assert stops > 20
    assert snapshot(m) == snapshot(whole)


# --- counters -------------------------------------------------------------------------------------------
def test_stats_count_instructions_cycles_traps_and_exits():
    m, _ = run_asm(BUSY, max_instructions=None)
    s = m.stats
    assert (s.instructions, s.cycles) == (m.instructions, m.cycles)
    assert s.interrupts_by_line == {"timer interrupt": 12}
    assert s.traps == 0 and s.traps_by_cause == {}
    assert s.exits == {"halt": 1}
    assert s.device_accesses == len(m.console.output_bytes)


def test_stats_count_every_exit_and_survive_reset():
    m = load_asm(COUNT)
    m.run(max_instructions=5)
    m.run()
    m.reset()
    m.run()
    assert m.stats.exits == {"budget": 1, "halt": 2}
    assert m.stats.instructions == 33 * 2 and m.instructions == 33


def test_stats_count_traps_by_cause():
    m, _ = run_asm(
        """
        _start: la t0, trap
                csrw tvec, t0
                syscall
                syscall
                break
                halt
        trap:   csrr t0, epc
                addi t0, t0, 4
                csrw epc, t0
                eret
        """
    )
    assert m.stats.traps == 3
    assert m.stats.traps_by_cause == {"syscall": 2, "breakpoint": 1}


def test_load_takes_an_image_and_says_how_to_get_one():
    m = Machine(memory="64K")
    with pytest.raises(TypeError, match=r"vmlab.images.load\(name\).*not str"):
        m.load("hello")


def test_messages_show_vmlabs_own_sources_as_images_paths(tmp_path: Path) -> None:
    """Not the install directory (a site-packages path means nothing to a student)."""
    m = Machine(memory="64K")
    m.load(images.load("hello"))
    message = m.run().message
    assert "images/hello.s:" in message and str(images_dir()) not in message
    own = tmp_path / "mine.s"
    own.write_text("_start: halt\n")
    m.load(assemble_file(own))
    assert f"{own}:1" in m.run().message  # a user's own file keeps its path
