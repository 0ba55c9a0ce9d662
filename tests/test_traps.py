"""Traps and interrupts (docs/machine.md "Traps and interrupts" and "Control and status registers").

Most programs install ``trap`` as the trap vector; it copies cause, epc, tval and status into
a0..a3 and halts, so each test reads what the hardware saved. Page faults are in test_paging.py,
the console and disk interrupts in test_devices.py.
"""

from __future__ import annotations

import pytest
from conftest import ORG, halted, run_asm

from vmlab import MachineError
from vmlab.isa import encode
from vmlab.isa.arch import (
    CAUSE_ACCESS_FAULT,
    CAUSE_BREAKPOINT,
    CAUSE_ILLEGAL,
    CAUSE_MISALIGNED_FETCH,
    CAUSE_MISALIGNED_LOAD,
    CAUSE_MISALIGNED_STORE,
    CAUSE_PRIVILEGED,
    CAUSE_SYSCALL,
    CAUSE_TIMER_INTERRUPT,
    CSR_NUMBERS,
    ST_IE,
    ST_MODE,
    ST_PIE,
    ST_PMODE,
    TRAP_CYCLES,
)
from vmlab.isa.table import BY_NAME

HANDLER = """
trap:   csrr a0, cause
        csrr a1, epc
        csrr a2, tval
        csrr a3, status
        halt
"""


def trapped(body: str, user: bool = False, **kw):
    """Run ``body`` (in kernel mode, or user mode) with HANDLER installed; (cause, epc, tval, status, m)."""
    enter_user = "la t0, user\n csrw epc, t0\n eret\nuser:\n" if user else ""
    src = f"_start: la t0, trap\n csrw tvec, t0\n {enter_user}{body}\n{HANDLER}"
    m = halted(src, **kw)
    return m.regs["a0"], m.regs["a1"], m.regs["a2"], m.regs["a3"], m


def at(m, label: str) -> int:
    """Address of a label of the loaded image."""
    return m.image.symbol(label)


# --- the trap entry: epc, cause, tval, status ---------------------------------------------------------
def test_syscall_traps_with_epc_at_the_syscall_and_tval_zero():
    cause, epc, tval, _, m = trapped("li a2, 77\nhere: syscall")
    assert (cause, epc, tval) == (CAUSE_SYSCALL, at(m, "here"), 0)


def test_break_traps_with_cause_breakpoint():
    cause, epc, tval, _, m = trapped("here: break")
    assert (cause, epc, tval) == (CAUSE_BREAKPOINT, at(m, "here"), 0)


def test_trap_from_kernel_mode_saves_pmode_kernel_and_pie():
    _, _, _, status, _ = trapped(f"li t0, {ST_MODE | ST_IE}\n csrw status, t0\n syscall")
    assert status == ST_MODE | ST_PMODE | ST_PIE  # kernel mode, IE cleared, previous saved


def test_trap_from_user_mode_saves_pmode_user():
    _, _, _, status, _ = trapped("syscall", user=True)
    assert status == ST_MODE  # MODE = kernel, PMODE = user, IE = PIE = 0


def test_trap_from_user_mode_with_interrupts_on_saves_pie():
    # status = PIE (PMODE user): eret enters user mode with IE set
    cause, _, _, status, _ = trapped(
        f"li t0, {ST_MODE | ST_PIE}\n csrw status, t0\n"
        + "la t0, user\n csrw epc, t0\n eret\nuser: syscall"
    )
    assert cause == CAUSE_SYSCALL
    assert status == ST_MODE | ST_PIE


def test_trap_jumps_to_tvec_and_costs_trap_cycles():
    m = halted(
        """
        _start: la t0, trap
                csrw tvec, t0
                csrr s0, cycle
                syscall
                li a0, 1        # never runs
        trap:   csrr s1, cycle
                halt
        """
    )
    assert m.regs["a0"] == 0
    assert (
        m.regs["s1"] - m.regs["s0"]
        == BY_NAME["syscall"].cycles + TRAP_CYCLES + BY_NAME["csrr"].cycles
    )
    assert m.stats.traps == 1 and m.stats.traps_by_cause == {"syscall": 1}


def test_eret_returns_to_user_mode_after_the_kernel_skips_the_syscall():
    m = halted(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                la t0, user
                csrw epc, t0
                eret
        user:   syscall
                syscall
        priv:   csrr a0, status         # privileged: proves the CPU is back in user mode
        trap:   csrr t0, cause
                li t1, {CAUSE_SYSCALL}
                bne t0, t1, other
                addi s0, s0, 1
                csrr t0, epc
                addi t0, t0, 4
                csrw epc, t0
                eret
        other:  csrr a0, cause
                csrr a1, epc
                halt
        """
    )
    assert m.regs["s0"] == 2
    assert (m.regs["a0"], m.regs["a1"]) == (CAUSE_PRIVILEGED, at(m, "priv"))


def test_eret_restores_interrupt_enable_from_pie():
    # user mode with IE on, trap, eret, trap again: the second trap sees PIE = 1 again
    m = halted(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, {ST_MODE | ST_PIE}
                csrw status, t0
                la t0, user
                csrw epc, t0
                eret
        user:   syscall
                break
        trap:   csrr t0, cause
                li t1, {CAUSE_SYSCALL}
                bne t0, t1, second
                csrr s0, status
                csrr t0, epc
                addi t0, t0, 4
                csrw epc, t0
                eret
        second: csrr s1, status
                halt
        """
    )
    assert m.regs["s0"] == m.regs["s1"] == ST_MODE | ST_PIE


# --- illegal instructions ----------------------------------------------------------------------------
ILLEGAL_WORDS = {
    "opcode 0x00": 0x00000000,
    "undefined opcode 0xEE": 0x000000EE,
    "reserved opcode 0xF0": 0x000000F0,
    "R format with bits 31:20 set": encode("add", rd=4, rs1=5, rs2=6) | 1 << 20,
    "N format with operand bits set": encode("syscall") | 1 << 8,
    "lui with a source register": encode("lui", rd=4, imm=1) | 5 << 12,
    "csrr with an rs1 field": encode("csrr", rd=4, imm=0) | 1 << 12,
    "shift amount 32": encode("slli", rd=4, rs1=4) | 32 << 16,
    "unknown CSR number 15": 0x60 | 4 << 8 | 15 << 16,
    "unknown CSR number 0x100": 0x60 | 4 << 8 | 0x100 << 16,
}


@pytest.mark.parametrize("word", ILLEGAL_WORDS.values(), ids=ILLEGAL_WORDS.keys())
def test_non_canonical_word_is_an_illegal_instruction(word):
    cause, epc, tval, _, m = trapped(f"here: .word {word:#x}")
    assert (cause, epc, tval) == (CAUSE_ILLEGAL, at(m, "here"), word)


def test_illegal_instruction_in_user_mode_is_illegal_not_privileged():
    cause, _, tval, _, _ = trapped(".word 0xEE", user=True)
    assert (cause, tval) == (CAUSE_ILLEGAL, 0xEE)


def test_hcall_on_bare_metal_is_an_illegal_instruction():
    cause, epc, tval, _, m = trapped("here: hcall")
    assert (cause, epc, tval) == (CAUSE_ILLEGAL, at(m, "here"), encode("hcall"))


READ_ONLY = ["ip", "cycle", "cycleh", "instret", "instreth"]


@pytest.mark.parametrize("csr", READ_ONLY)
@pytest.mark.parametrize("op", ["csrw", "csrs", "csrc"])
def test_writing_a_read_only_csr_is_illegal(op, csr):
    cause, epc, tval, _, m = trapped(f"li t0, 1\nhere: {op} {csr}, t0")
    word = encode(op, rs1=8, imm=CSR_NUMBERS[csr])
    assert (cause, epc, tval) == (CAUSE_ILLEGAL, at(m, "here"), word)


def test_csrrw_of_a_read_only_csr_leaves_rd_alone():
    cause, _, _, _, m = trapped("li s0, 123\n li t0, 1\n csrrw s0, instret, t0")
    assert cause == CAUSE_ILLEGAL and m.regs["s0"] == 123


# --- privileged instructions in user mode --------------------------------------------------------
PRIVILEGED = [
    "eret",
    "wfi",
    "halt",
    "tlbflush",
    "csrr a0, scratch",
    "csrr a0, status",
    "csrw scratch, t0",
    "csrrw a0, scratch, t0",
    "csrs status, t0",
    "csrc status, t0",
]


@pytest.mark.parametrize("instr", PRIVILEGED)
def test_privileged_instruction_in_user_mode_traps(instr):
    cause, epc, tval, status, m = trapped(f"here: {instr}", user=True)
    assert (cause, epc) == (CAUSE_PRIVILEGED, at(m, "here"))
    assert tval == m.read_word(epc)  # the instruction word
    assert status & (ST_MODE | ST_PMODE) == ST_MODE  # it came from user mode


def test_every_privileged_table_row_is_covered():
    rows = {r.name for r in BY_NAME.values() if r.privileged}
    assert rows == {i.split()[0] for i in PRIVILEGED}


def test_strict_false_lets_user_mode_read_the_real_status():
    m = halted(
        """
        _start: la t0, trap
                csrw tvec, t0
                la t0, user
                csrw epc, t0
                eret
        user:   csrr s0, status
                syscall
        trap:   halt
        """,
        strict=False,
    )
    assert m.regs["s0"] == 0  # user mode, interrupts off: MODE = 0 shows
    assert m.csr("cause") == CAUSE_SYSCALL


def test_strict_false_still_traps_other_csr_accesses_in_user_mode():
    for instr in ("csrr a0, scratch", "csrw status, t0", "csrr a0, ie"):
        cause, _, _, _, _ = trapped(instr, user=True, strict=False)
        assert cause == CAUSE_PRIVILEGED, instr


def test_strict_is_the_default_so_csrr_status_traps_in_user_mode():
    cause, _, _, _, _ = trapped("csrr s0, status", user=True)
    assert cause == CAUSE_PRIVILEGED


# --- misaligned accesses ------------------------------------------------------------------------------
def test_jalr_to_a_misaligned_address_faults_on_the_fetch():
    cause, epc, tval, _, _ = trapped("li t0, 0x2002\n jalr zero, 0(t0)")
    assert (cause, epc, tval) == (CAUSE_MISALIGNED_FETCH, 0x2002, 0x2002)


@pytest.mark.parametrize(
    ("instr", "addr"), [("lw", 0x2002), ("lw", 0x2001), ("lh", 0x2001), ("lhu", 0x2003)]
)
def test_misaligned_load_traps_with_the_address(instr, addr):
    cause, epc, tval, _, m = trapped(f"li t0, {addr}\n li a2, 1\nhere: {instr} a2, 0(t0)")
    assert (cause, epc, tval) == (CAUSE_MISALIGNED_LOAD, at(m, "here"), addr)


@pytest.mark.parametrize(("instr", "addr"), [("sw", 0x2002), ("sw", 0x2003), ("sh", 0x2001)])
def test_misaligned_store_traps_and_writes_nothing(instr, addr):
    cause, epc, tval, _, m = trapped(f"li t0, {addr}\n li t1, 0\nhere: {instr} t1, 0(t0)")
    assert (cause, epc, tval) == (CAUSE_MISALIGNED_STORE, at(m, "here"), addr)
    assert m.read(0x2000, 4) == b"\xa5\xa5\xa5\xa5"


def test_byte_accesses_are_never_misaligned():
    m = halted("_start: li t0, 0x2003\n sb zero, 0(t0)\n lb a0, 0(t0)\n halt")
    assert m.regs["a0"] == 0


# --- access faults -----------------------------------------------------------------------------------
def test_load_beyond_ram_is_an_access_fault():
    cause, _, tval, _, _ = trapped("li t0, 0x100000\n lw a0, 0(t0)", memory="1M")
    assert (cause, tval) == (CAUSE_ACCESS_FAULT, 0x100000)


def test_store_to_an_unmapped_physical_address_is_an_access_fault():
    cause, _, tval, _, _ = trapped("li t0, 0x80000000\n sw zero, 0(t0)")
    assert (cause, tval) == (CAUSE_ACCESS_FAULT, 0x80000000)


def test_fetch_beyond_ram_is_an_access_fault():
    cause, epc, tval, _, _ = trapped("li t0, 0x100000\n jr t0", memory="1M")
    assert (cause, epc, tval) == (CAUSE_ACCESS_FAULT, 0x100000, 0x100000)


def test_fetch_from_a_device_is_an_access_fault():
    cause, _, tval, _, _ = trapped("li t0, 0xF0000000\n jr t0")
    assert (cause, tval) == (CAUSE_ACCESS_FAULT, 0xF0000000)


def test_last_word_of_ram_is_accessible():
    m = halted(
        "_start: li t0, 0xFFFFC\n li t1, 5\n sw t1, 0(t0)\n lw a0, 0(t0)\n halt", memory="1M"
    )
    assert m.regs["a0"] == 5


# --- a trap with no trap vector stops the machine -----------------------------------------------------------
def test_trap_without_tvec_stops_the_machine_with_a_fault():
    m, res = run_asm("_start: nop\nbad: .word 0xEE")
    assert res.reason == "fault" and res.stopped
    assert (res.cause, res.tval, res.pc) == (CAUSE_ILLEGAL, 0xEE, ORG + 4)
    assert "illegal instruction" in res.message and "0x00001004" in res.message
    assert "bad" in res.message and "tvec = 0" in res.message
    assert m.state == "fault"


def test_fault_message_names_the_faulting_address():
    _, res = run_asm("_start: li t0, 0x200000\n lw a0, 0(t0)")
    assert (res.reason, res.cause, res.tval) == ("fault", CAUSE_ACCESS_FAULT, 0x200000)
    assert "access fault" in res.message and "0x00200000" in res.message


def test_running_a_faulted_machine_raises_until_reset():
    m, _ = run_asm("_start: syscall")
    with pytest.raises(MachineError, match=r"stopped \(fault.*reset\(\)"):
        m.run()
    m.reset()
    assert m.run().reason == "fault"


# --- interrupts: the timer --------------------------------------------------------------------------
TIMER_SETUP = f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0             # timer line
                li t0, 200
                csrw timecmp, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
"""


def test_timer_interrupt_is_taken_when_cycle_reaches_timecmp():
    m = halted(
        TIMER_SETUP
        + """
        spin:   j spin
        trap:   csrr s0, cycle
                csrr a0, cause
                csrr a1, epc
                csrr a2, tval
                csrr a3, status
                halt
        """
    )
    assert (m.regs["a0"], m.regs["a1"], m.regs["a2"]) == (CAUSE_TIMER_INTERRUPT, at(m, "spin"), 0)
    assert m.regs["a3"] == ST_MODE | ST_PMODE | ST_PIE
    # taken at the first instruction boundary at or after cycle 200 (j costs 2)
    entry = m.regs["s0"] - BY_NAME["csrr"].cycles - TRAP_CYCLES
    assert 200 <= entry < 202
    assert m.stats.interrupts == 1 and m.stats.interrupts_by_line == {"timer interrupt": 1}


def test_timer_interrupt_epc_is_the_next_instruction_to_run():
    m = halted(
        TIMER_SETUP.replace("200", "100")
        + """
                li s1, 0
        count:  addi s1, s1, 1
                j count
        trap:   csrr a1, epc
                halt
        """
    )
    assert m.regs["a1"] in (at(m, "count"), at(m, "count") + 4)


def test_timer_interrupt_is_level_triggered_until_timecmp_is_rewritten():
    # the handler returns without touching timecmp: the interrupt is taken again at once
    m = halted(
        TIMER_SETUP
        + """
        spin:   addi s1, s1, 1
                j spin
        trap:   addi s0, s0, 1
                li t0, 3
                beq s0, t0, done
                eret
        done:   halt
        """
    )
    assert m.regs["s0"] == 3
    assert m.stats.interrupts == 3


def test_timer_handler_rearms_by_writing_timecmp():
    m = halted(
        TIMER_SETUP
        + """
        spin:   j spin
        trap:   addi s0, s0, 1
                li t0, 4
                beq s0, t0, done
                csrr t0, cycle
                addi t0, t0, 300
                csrw timecmp, t0
                eret
        done:   csrr a0, cycle
                halt
        """
    )
    assert m.regs["s0"] == 4
    assert m.regs["a0"] > 200 + 3 * 300


def test_interrupt_in_user_mode_saves_pmode_user_and_eret_returns_to_user_mode():
    m = halted(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0
                li t0, 300
                csrw timecmp, t0
                li t0, {ST_MODE | ST_PIE}
                csrw status, t0
                la t0, user
                csrw epc, t0
                eret                    # user mode, interrupts on
        user:   addi s1, s1, 1
                bnez s0, priv
                j user
        priv:   csrr a0, status         # privileged: traps only because we are in user mode
        trap:   csrr t0, cause
                li t1, {CAUSE_TIMER_INTERRUPT:#x}
                bne t0, t1, other
                csrr s2, status
                li s0, 1
                li t0, -1
                csrw timecmp, t0        # no more ticks
                eret
        other:  csrr a0, cause
                halt
        """
    )
    assert m.regs["s2"] == ST_MODE | ST_PIE  # came from user mode with IE on
    assert m.regs["a0"] == CAUSE_PRIVILEGED  # eret went back to user mode


def test_timer_is_masked_by_status_ie():
    m = halted(
        TIMER_SETUP.replace(f"{ST_MODE | ST_IE}", f"{ST_MODE}")
        + """
                li t0, 500
        loop:   addi t0, t0, -1
                bnez t0, loop
                csrr a0, ip
                halt
        trap:   li a1, 1
                halt
        """
    )
    assert m.regs["a1"] == 0  # never taken
    assert m.regs["a0"] == 1  # but pending in ip


def test_timer_is_masked_by_ie():
    m = halted(
        TIMER_SETUP.replace("li t0, 1\n", "li t0, 0\n")
        + """
                li t0, 500
        loop:   addi t0, t0, -1
                bnez t0, loop
                csrr a0, ip
                halt
        trap:   li a1, 1
                halt
        """
    )
    assert m.regs["a1"] == 0
    assert m.regs["a0"] == 1  # ip shows the line even when ie masks it


def test_pending_interrupt_is_taken_right_after_ie_is_enabled():
    m = halted(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0
                csrw timecmp, zero      # pending from now on
                nop
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
        after:  li a0, 1                # interrupted before this runs
                halt
        trap:   csrr a1, epc
                halt
        """
    )
    assert m.regs["a0"] == 0 and m.regs["a1"] == at(m, "after")


def test_timer_via_the_timer_device_interval_register():
    m = halted(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
                li t0, 0xF0001000
                csrr s0, cycle
                li t1, 1000
                sw t1, 0x10(t0)         # INTERVAL: timecmp = now + 1000
        spin:   j spin
        trap:   csrr s1, timecmp
                csrr a0, cause
                halt
        """
    )
    assert m.regs["a0"] == CAUSE_TIMER_INTERRUPT
    # the store ran right after 'csrr s0, cycle' and 'li t1' (1 cycle) and costs 2 itself
    assert m.regs["s1"] == m.regs["s0"] + 1 + 2 + 1000


def test_interrupt_with_no_trap_vector_stops_the_machine():
    _, res = run_asm(
        f"_start: csrw timecmp, zero\n li t0, 1\n csrw ie, t0\n li t0, {ST_MODE | ST_IE}\n csrw status, t0\n spin: j spin"
    )
    assert (res.reason, res.cause) == ("fault", CAUSE_TIMER_INTERRUPT)
    assert "timer interrupt" in res.message


# --- wfi --------------------------------------------------------------------------------------------------
def test_wfi_skips_time_to_the_timer_deadline_and_counts_idle_cycles():
    m = halted(
        """
        _start: li t0, 1
                csrw ie, t0             # timer line enabled, status.IE off
                li t0, 10000
                csrw timecmp, t0
                csrr s0, cycle
                wfi
                csrr s1, cycle
                halt
        """
    )
    wfi = BY_NAME["wfi"].cycles
    assert m.regs["s1"] == 10000 + BY_NAME["csrr"].cycles  # woke exactly at the deadline
    assert m.stats.idle_cycles == 10000 - (m.regs["s0"] + wfi)
    assert m.instructions == 8


def test_wfi_with_interrupts_enabled_wakes_into_the_handler():
    m = halted(
        TIMER_SETUP.replace("200", "5000")
        + """
                wfi
        after:  li a0, 1
                halt
        trap:   csrr a1, epc
                csrr a2, cycle
                halt
        """
    )
    assert m.regs["a0"] == 0 and m.regs["a1"] == at(m, "after")
    assert m.regs["a2"] == 5000 + TRAP_CYCLES + BY_NAME["csrr"].cycles * 2
    assert m.stats.idle_cycles > 4900


def test_wfi_continues_at_once_when_an_enabled_line_is_pending_even_with_ie_off():
    m = halted(
        """
        _start: li t0, 1
                csrw ie, t0
                csrw timecmp, zero
                wfi
                li a0, 1
                halt
        """
    )
    assert m.regs["a0"] == 1 and m.stats.idle_cycles == 0


def test_wfi_with_nothing_armed_stops_as_idle():
    m, res = run_asm("_start: nop\nw: wfi\n halt")
    assert res.reason == "idle" and not res.stopped
    assert res.pc == m.pc == ORG + 4  # still on the wfi
    assert "wfi" in res.message and "0x00001004" in res.message
    assert m.state == "ready"
    assert m.run().reason == "idle"  # legal to run again, and still idle


def test_wfi_with_the_timer_armed_but_masked_in_ie_stops_as_idle():
    _, res = run_asm("_start: li t0, 1000\n csrw timecmp, t0\n wfi\n halt")
    assert res.reason == "idle"


def test_wfi_costs_its_class_cycle_when_it_does_not_wait():
    m = halted(
        "_start: li t0, 1\n csrw ie, t0\n csrw timecmp, zero\n csrr s0, cycle\n wfi\n csrr s1, cycle\n halt"
    )
    assert m.regs["s1"] - m.regs["s0"] == BY_NAME["wfi"].cycles + BY_NAME["csrr"].cycles


def test_interrupt_counter_does_not_count_exceptions():
    *_, m = trapped("syscall")
    assert m.stats.interrupts == 0 and m.stats.traps == 1


def test_cause_values_match_the_spec_table():
    assert (CAUSE_ILLEGAL, CAUSE_PRIVILEGED, CAUSE_MISALIGNED_FETCH) == (1, 2, 3)
    assert (CAUSE_MISALIGNED_LOAD, CAUSE_MISALIGNED_STORE, CAUSE_SYSCALL) == (4, 5, 9)
    assert (CAUSE_BREAKPOINT, CAUSE_ACCESS_FAULT, CAUSE_TIMER_INTERRUPT) == (10, 11, 1 << 31)
