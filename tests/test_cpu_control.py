"""Branches, jumps, CSR instructions, eret and halt (docs/isa.md, docs/machine.md).

Branch targets are addresses in the assembly (``beq a1, a2, 0x1010``), as the assembler takes them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import M32, ORG, OneInstruction, halted, run_asm, to_signed
from hypothesis import given, settings
from hypothesis import strategies as st

from vmlab.isa import INSTRUCTIONS
from vmlab.isa.arch import ST_IE, ST_MODE, ST_PIE, ST_PMODE
from vmlab.isa.table import BY_NAME

_harness: dict[str, OneInstruction] = {}


def one(instr: str) -> OneInstruction:
    """A cached single-instruction harness."""
    if instr not in _harness:
        _harness[instr] = OneInstruction(instr)
    return _harness[instr]


BRANCH_REF = {
    "beq": lambda a, b: a == b,
    "bne": lambda a, b: a != b,
    "blt": lambda a, b: to_signed(a) < to_signed(b),
    "bge": lambda a, b: to_signed(a) >= to_signed(b),
    "bltu": lambda a, b: a < b,
    "bgeu": lambda a, b: a >= b,
}
TARGET = ORG + 0x40


def branch(op: str, a: int, b: int) -> int:
    """Run ``op a1, a2, TARGET`` once; the PC after it."""
    return one(f"{op} a1, a2, {TARGET:#x}")(a1=a, a2=b).pc


# --- branches ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "a", "b", "taken"),
    [
        ("beq", 5, 5, True),
        ("beq", 5, 6, False),
        ("bne", 5, 6, True),
        ("bne", 5, 5, False),
        ("blt", M32, 0, True),  # -1 < 0
        ("blt", 0, M32, False),
        ("blt", 3, 3, False),
        ("bge", 0, M32, True),
        ("bge", 3, 3, True),
        ("bge", M32, 0, False),
        ("bltu", 0, M32, True),
        ("bltu", M32, 0, False),
        ("bltu", 3, 3, False),
        ("bgeu", M32, 0, True),
        ("bgeu", 3, 3, True),
        ("bgeu", 0, M32, False),
    ],
)
def test_branch_taken_or_not(op, a, b, taken):
    assert branch(op, a, b) == (TARGET if taken else ORG + 4)


def test_branch_backwards():
    m, res = run_asm("_start: nop\n nop\n beq zero, zero, _start\n halt", max_instructions=3)
    assert res.reason == "budget" and m.pc == ORG


def test_branch_to_itself_loops_until_the_budget_runs_out():
    m, res = run_asm(
        "_start: bne zero, zero, _start\nhere: beq zero, zero, here", max_instructions=50
    )
    assert (res.reason, res.instructions, m.pc) == ("budget", 50, ORG + 4)


def test_taken_and_untaken_branches_cost_the_same():
    assert BY_NAME["beq"].cycles == 1
    for a, b in ((1, 1), (1, 2)):
        m = one(f"beq a1, a2, {TARGET:#x}")(a1=a, a2=b)
        assert m.cycles == 1


@pytest.mark.parametrize("op", sorted(BRANCH_REF))
@settings(max_examples=40, deadline=None)
@given(a=st.integers(0, M32), b=st.integers(0, M32))
def test_branch_matches_reference(op, a, b):
    assert branch(op, a, b) == (TARGET if BRANCH_REF[op](a, b) else ORG + 4)


# --- jumps --------------------------------------------------------------------------------------------
def test_jal_links_the_next_address_and_jumps():
    m = one("jal ra, 0x1100")()
    assert (m.regs["ra"], m.pc) == (ORG + 4, 0x1100)


def test_jal_reaches_far_targets_both_ways():
    m = one("jal a0, 0x80000")()
    assert (m.regs["a0"], m.pc) == (ORG + 4, 0x80000)
    m, _ = run_asm(".org 0x40000\n_start: jal a0, 0x1000\n", max_instructions=1)
    assert (m.regs["a0"], m.pc) == (0x40004, 0x1000)


def test_jal_with_r0_only_jumps():
    m = one("jal zero, 0x1100")()
    assert m.pc == 0x1100 and m.regs[0] == 0


def test_jalr_jumps_to_register_plus_offset_and_links():
    m = one("jalr ra, 8(a1)")(a1=0x2000)
    assert (m.regs["ra"], m.pc) == (ORG + 4, 0x2008)


def test_jalr_offset_is_sign_extended():
    assert one("jalr ra, -8(a1)")(a1=0x2000).pc == 0x1FF8


def test_jalr_reads_its_base_before_writing_the_link():
    m = one("jalr a1, 0(a1)")(a1=0x3000)
    assert (m.pc, m.regs["a1"]) == (0x3000, ORG + 4)


def test_jalr_target_wraps_modulo_2_32():
    assert one("jalr zero, 0x10(a1)")(a1=0xFFFFFFF8).pc == 0x8


def test_call_and_ret():
    m = halted(
        """
        _start: li a0, 1
                call double
                call double
                halt
        double: add a0, a0, a0
                ret
        """
    )
    assert m.regs["a0"] == 4


def test_jumps_cost_their_class_cycles():
    assert one("jal ra, 0x1100")().cycles == BY_NAME["jal"].cycles == 2
    assert one("jalr ra, 0(a1)")(a1=0x2000).cycles == BY_NAME["jalr"].cycles == 2


# --- halt -------------------------------------------------------------------------------------------
def test_halt_stops_with_a0_as_exit_code():
    m, res = run_asm("_start: li a0, 42\nend: halt")
    assert (res.reason, res.exit_code) == ("halt", 42)
    assert res.pc == m.pc == ORG + 4
    assert "end" in res.message and "0x00001004" in res.message
    assert res.stopped


def test_halt_exit_code_is_the_unsigned_register_value():
    _, res = run_asm("_start: li a0, -1\n halt")
    assert res.exit_code == M32


def test_halt_counts_as_an_instruction_and_costs_system_cycles():
    _, res = run_asm("_start: halt")
    assert (res.instructions, res.cycles) == (1, BY_NAME["halt"].cycles)


# --- CSR instructions in kernel mode ----------------------------------------------------------------
def test_csrw_then_csrr_round_trips():
    m = halted("_start: li t0, 0x12345678\n csrw scratch, t0\n csrr a0, scratch\n halt")
    assert m.regs["a0"] == 0x12345678 == m.csr("scratch")


def test_csrrw_swaps_atomically_even_when_rd_is_rs1():
    m = halted("_start: li t0, 5\n csrw scratch, t0\n li a0, 9\n csrrw a0, scratch, a0\n halt")
    assert (m.regs["a0"], m.csr("scratch")) == (5, 9)


def test_csrs_sets_bits_and_csrc_clears_them():
    m = halted(
        """
        _start: li t0, 0xF0
                csrw scratch, t0
                li t1, 0x0F
                csrs scratch, t1
                csrr a0, scratch
                li t1, 0x3C
                csrc scratch, t1
                csrr a1, scratch
                halt
        """
    )
    assert (m.regs["a0"], m.regs["a1"]) == (0xFF, 0xC3)


def test_tvec_and_epc_drop_the_low_two_bits():
    m = halted("_start: li t0, 0x2003\n csrw tvec, t0\n csrw epc, t0\n halt")
    assert m.csr("tvec") == m.csr("epc") == 0x2000


def test_status_keeps_only_its_defined_bits():
    # every bit but PG (paging on with an empty page table would fault at once)
    m = halted("_start: li t0, 0xFFFFFFEF\n csrw status, t0\n csrr a0, status\n halt")
    assert m.regs["a0"] == ST_MODE | ST_IE | ST_PMODE | ST_PIE


def test_ie_keeps_only_the_three_interrupt_lines():
    m = halted("_start: li t0, -1\n csrw ie, t0\n csrr a0, ie\n halt")
    assert m.regs["a0"] == 0b111


def test_status_after_reset_is_kernel_mode_with_everything_off():
    m = halted("_start: csrr a0, status\n csrr a1, ie\n csrr a2, tvec\n halt")
    assert (m.regs["a0"], m.regs["a1"], m.regs["a2"]) == (ST_MODE, 0, 0)


def test_cycle_and_instret_count_modelled_time_and_instructions():
    m = halted(
        """
        _start: csrr a0, cycle
                nop
                lw t0, 0(zero)
                csrr a1, cycle
                csrr a2, instret
                nop
                csrr a3, instret
                halt
        """
    )
    csr, alu, load = (BY_NAME[n].cycles for n in ("csrr", "addi", "lw"))
    assert m.regs["a1"] - m.regs["a0"] == alu + load + csr
    assert m.regs["a3"] - m.regs["a2"] == 2
    assert m.instructions == 8 and m.csr("instret") == 8


def test_counter_high_words_read_zero_early_on():
    m = halted("_start: csrr a0, cycleh\n csrr a1, instreth\n li a0, 0\n halt")
    assert m.regs["a1"] == 0


def test_timecmp_reads_back_low_and_high_words():
    m = halted(
        """
        _start: li t0, 3
                csrw timecmph, t0
                li t0, 0x89ABCDEF
                csrw timecmp, t0
                li t0, 0x12
                csrw timecmph, t0
                csrr a0, timecmp
                csrr a1, timecmph
                halt
        """
    )
    assert (m.regs["a0"], m.regs["a1"]) == (0x89ABCDEF, 0x12)
    assert m.csr("timecmp") == 0x12_89ABCDEF


def test_writing_the_low_timecmp_word_alone_sets_a_32_bit_deadline():
    # timecmp resets to "never" (high word 0x7FFFFFFF); a 32-bit program writes only the low
    # word, which clears the high word, so a 64-bit deadline writes timecmph after timecmp
    m = halted(
        """
        _start: csrr a0, timecmph
                li t0, 7
                csrw timecmph, t0
                li t0, 500
                csrw timecmp, t0
                csrr a1, timecmph
                halt
        """
    )
    assert (m.regs["a0"], m.regs["a1"], m.csr("timecmp")) == (0x7FFFFFFF, 0, 500)


def test_csr_instructions_cost_their_class_cycles():
    assert one("csrr a0, scratch")().cycles == BY_NAME["csrr"].cycles == 4


# --- eret ----------------------------------------------------------------------------------------------
def test_eret_jumps_to_epc_and_restores_mode_and_ie_from_pmode_and_pie():
    m = halted(
        f"""
        _start: la t0, there
                csrw epc, t0
                li t0, {ST_MODE | ST_PMODE | ST_PIE}
                csrw status, t0
                eret
                li a1, 1        # skipped
        there:  csrr a0, status
                halt
        """
    )
    assert m.regs["a1"] == 0
    assert m.regs["a0"] & (ST_MODE | ST_IE) == ST_MODE | ST_IE


def test_eret_with_pmode_user_enters_user_mode():
    # in user mode 'csrr status' is privileged: no trap vector, so the machine stops with a fault
    m, res = run_asm(
        """
        _start: la t0, user
                csrw epc, t0
                eret
        user:   csrr a0, status
        """
    )
    assert res.reason == "fault" and res.pc == ORG + 16
    assert m.csr("status") & ST_MODE == 0


def test_eret_costs_system_cycles():
    m = one("eret")()
    assert m.cycles == BY_NAME["eret"].cycles == 5


# --- the table is covered --------------------------------------------------------------------------
def _assembly_mnemonics(path: Path) -> set[str]:
    """First words of the assembly lines in the string literals of a test module (no docstrings)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            for line in node.value.splitlines():
                m = re.match(r"\s*(?:[A-Za-z_.][\w.$]*:\s*)*([a-z]+)\b", line)
                if m:
                    found.add(m.group(1))
    return found


def _covered() -> set[str]:
    """Mnemonics with a reference model here or an assembly line in the spec tests."""
    from test_cpu_alu import REF, REF_IMM, REF_SHIFT

    covered = set(REF) | set(REF_IMM) | set(REF_SHIFT) | set(BRANCH_REF)
    here = Path(__file__).parent
    for name in ("test_cpu_alu.py", "test_cpu_memory.py", "test_cpu_control.py", "test_traps.py"):
        covered |= _assembly_mnemonics(here / name)
    return covered


def test_every_table_instruction_has_a_spec_test():
    covered = _covered()
    missing = sorted(r.name for r in INSTRUCTIONS if r.name not in covered)
    assert not missing, f"instructions with no spec test: {missing}"
