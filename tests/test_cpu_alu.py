"""Integer instructions (docs/isa.md): every register-register and register-immediate operation.

Each operation is checked against ``REF``, an independent Python model written from the table's
one-line meanings (Python integers, ``fractions`` for division), first on the edge cases by name,
then on random operands with hypothesis. The single-instruction harness runs exactly one
instruction; ``halt`` after it never executes.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from conftest import M32, ORG, OneInstruction, halted, to_signed
from hypothesis import given, settings
from hypothesis import strategies as st

from vmlab.isa import encode
from vmlab.isa.table import BY_NAME

INT_MIN = 0x80000000
EDGES = [0, 1, 2, 3, 31, 32, 33, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, INT_MIN, 0x80000001]
EDGES += [M32, M32 - 1, 0x12345678, 0xDEADBEEF]
word = st.one_of(st.sampled_from(EDGES), st.integers(0, M32))
imm16 = st.one_of(st.sampled_from([0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x1234]), st.integers(0, 0xFFFF))
FEW = settings(max_examples=60, deadline=None)


def _div(a: int, b: int) -> int:
    sa, sb = to_signed(a), to_signed(b)
    if sb == 0:
        return M32
    if sa == -(2**31) and sb == -1:
        return INT_MIN
    return int(Fraction(sa, sb)) & M32  # int() of a Fraction truncates toward zero


def _rem(a: int, b: int) -> int:
    sa, sb = to_signed(a), to_signed(b)
    if sb == 0:
        return a
    if sa == -(2**31) and sb == -1:
        return 0
    return (sa - sb * int(Fraction(sa, sb))) & M32


# rd = f(rs1, rs2) for register-register operations, all values unsigned 32-bit
REF = {
    "add": lambda a, b: (a + b) & M32,
    "sub": lambda a, b: (a - b) & M32,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "sll": lambda a, b: (a << (b % 32)) & M32,
    "srl": lambda a, b: a >> (b % 32),
    "sra": lambda a, b: (to_signed(a) >> (b % 32)) & M32,
    "slt": lambda a, b: int(to_signed(a) < to_signed(b)),
    "sltu": lambda a, b: int(a < b),
    "mul": lambda a, b: (a * b) & M32,
    "mulh": lambda a, b: ((to_signed(a) * to_signed(b)) >> 32) & M32,
    "mulhu": lambda a, b: ((a * b) >> 32) & M32,
    "div": _div,
    "divu": lambda a, b: M32 if b == 0 else a // b,
    "rem": _rem,
    "remu": lambda a, b: a if b == 0 else a % b,
}


def _sext16(i: int) -> int:
    return (i - 0x10000 if i & 0x8000 else i) & M32


# rd = f(rs1, imm16 field) for register-immediate operations
REF_IMM = {
    "addi": lambda a, i: (a + _sext16(i)) & M32,
    "andi": lambda a, i: a & i,
    "ori": lambda a, i: a | i,
    "xori": lambda a, i: a ^ i,
    "slti": lambda a, i: int(to_signed(a) < to_signed(_sext16(i))),
    "sltiu": lambda a, i: int(a < _sext16(i)),
}
REF_SHIFT = {"slli": REF["sll"], "srli": REF["srl"], "srai": REF["sra"]}

_harness: dict[str, OneInstruction] = {}


def one(instr: str) -> OneInstruction:
    """A cached single-instruction harness."""
    if instr not in _harness:
        _harness[instr] = OneInstruction(instr)
    return _harness[instr]


def rr(op: str, a: int, b: int) -> int:
    """Run ``op a0, a1, a2`` with a1 = a, a2 = b; the value of a0."""
    return one(f"{op} a0, a1, a2").result(a1=a, a2=b)


def ri(instr: str, a: int) -> int:
    """Run the immediate instruction ``instr`` (rd a0, rs1 a1) with a1 = a; the value of a0."""
    return one(instr).result(a1=a)


# --- add / sub ---------------------------------------------------------------------------------
def test_add_adds():
    assert rr("add", 2, 3) == 5


def test_add_wraps_modulo_2_32():
    assert rr("add", M32, 1) == 0
    assert rr("add", 0x7FFFFFFF, 1) == INT_MIN  # signed overflow is not trapped


def test_sub_wraps_below_zero():
    assert rr("sub", 0, 1) == M32
    assert rr("sub", INT_MIN, 1) == 0x7FFFFFFF


def test_destination_may_be_a_source():
    assert one("add a1, a1, a1").result("a1", a1=21) == 42


# --- bitwise -----------------------------------------------------------------------------------
def test_and_or_xor_are_bitwise():
    assert rr("and", 0xFF00FF00, 0x0FF00FF0) == 0x0F000F00
    assert rr("or", 0xFF00FF00, 0x0FF00FF0) == 0xFFF0FFF0
    assert rr("xor", 0xFF00FF00, 0x0FF00FF0) == 0xF0F0F0F0


# --- shifts -------------------------------------------------------------------------------------
def test_shifts_by_31():
    assert rr("sll", 1, 31) == INT_MIN
    assert rr("srl", INT_MIN, 31) == 1
    assert rr("sra", INT_MIN, 31) == M32


def test_shift_amount_is_the_low_five_bits_of_rs2():
    assert rr("sll", 1, 33) == 2
    assert rr("srl", 4, 32) == 4
    assert rr("sra", INT_MIN, 0xFFFFFFE1) == 0xC0000000  # 0x...E1 & 31 == 1


def test_srl_fills_with_zeros_and_sra_with_the_sign_bit():
    assert rr("srl", 0xF0000000, 4) == 0x0F000000
    assert rr("sra", 0xF0000000, 4) == 0xFF000000
    assert rr("sra", 0x70000000, 4) == 0x07000000


def test_sll_drops_bits_shifted_out():
    assert rr("sll", 0xFFFFFFFF, 4) == 0xFFFFFFF0


def test_immediate_shifts_by_0_and_31():
    assert ri("slli a0, a1, 31", 3) == INT_MIN
    assert ri("srli a0, a1, 31", M32) == 1
    assert ri("srai a0, a1, 31", INT_MIN) == M32
    assert ri("srai a0, a1, 31", 0x7FFFFFFF) == 0
    assert ri("slli a0, a1, 0", 0xDEADBEEF) == 0xDEADBEEF
    assert ri("srai a0, a1, 0", 0xDEADBEEF) == 0xDEADBEEF


# --- comparisons --------------------------------------------------------------------------------
def test_slt_compares_signed_and_sltu_unsigned():
    assert rr("slt", M32, 1) == 1  # -1 < 1
    assert rr("sltu", M32, 1) == 0  # 0xFFFFFFFF > 1
    assert rr("slt", INT_MIN, 0x7FFFFFFF) == 1
    assert rr("sltu", INT_MIN, 0x7FFFFFFF) == 0


def test_slt_of_equal_values_is_zero():
    assert rr("slt", 5, 5) == 0
    assert rr("sltu", M32, M32) == 0


def test_slti_sign_extends_its_immediate():
    assert ri("slti a0, a1, -1", M32 - 1) == 1  # -2 < -1
    assert ri("slti a0, a1, -1", 0) == 0


def test_sltiu_sign_extends_then_compares_unsigned():
    assert ri("sltiu a0, a1, -1", 5) == 1  # 5 < 0xFFFFFFFF
    assert ri("sltiu a0, a1, 1", 0) == 1  # seqz
    assert ri("sltiu a0, a1, 1", 7) == 0


# --- immediates: sign- vs zero-extension ----------------------------------------------------------
def test_addi_sign_extends_its_immediate():
    assert ri("addi a0, a1, -1", 0) == M32
    assert ri("addi a0, a1, -32768", 0) == 0xFFFF8000
    assert ri("addi a0, a1, 32767", 1) == 0x8000


def test_andi_zero_extends_its_immediate():
    assert ri("andi a0, a1, 0xFFFF", M32) == 0x0000FFFF
    assert ri("andi a0, a1, 0x8000", M32) == 0x00008000


def test_ori_zero_extends_its_immediate():
    assert ri("ori a0, a1, 0x8000", 0) == 0x00008000
    assert ri("ori a0, a1, 0xFFFF", 0x12340000) == 0x1234FFFF


def test_xori_zero_extends_its_immediate():
    assert ri("xori a0, a1, 0xFFFF", M32) == 0xFFFF0000
    assert ri("xori a0, a1, 0x8001", 1) == 0x8000


def test_lui_loads_the_upper_half_and_clears_the_lower():
    assert one("lui a0, 0x1234").result(a0=0xFFFF) == 0x12340000


def test_lui_with_the_top_bit_set_gives_an_unsigned_word():
    assert one("lui a0, 0xFFFF").result() == 0xFFFF0000
    assert one("lui a0, 0x8000").result() == INT_MIN


def test_lui_plus_addi_builds_any_word():
    m = halted("_start: li a0, 0xDEADBEEF\n li a1, 0x7FFF8000\n li a2, -1\n halt")
    assert (m.regs["a0"], m.regs["a1"], m.regs["a2"]) == (0xDEADBEEF, 0x7FFF8000, M32)


# --- multiply -----------------------------------------------------------------------------------
def test_mul_keeps_the_low_word():
    assert rr("mul", 0x10000, 0x10000) == 0
    assert rr("mul", 0x12345, 0x10) == 0x123450
    assert rr("mul", M32, M32) == 1  # (-1) * (-1)


def test_mulh_of_negative_values():
    assert rr("mulh", M32, M32) == 0  # -1 * -1 = 1
    assert rr("mulh", M32, 1) == M32  # -1 * 1 = -1: high word all ones
    assert rr("mulh", INT_MIN, INT_MIN) == 0x40000000  # 2**62
    assert rr("mulh", INT_MIN, 0x7FFFFFFF) == 0xC0000000


def test_mulhu_treats_operands_as_unsigned():
    assert rr("mulhu", M32, M32) == 0xFFFFFFFE
    assert rr("mulhu", M32, 1) == 0
    assert rr("mulhu", INT_MIN, 2) == 1


# --- divide ---------------------------------------------------------------------------------------
def test_div_rounds_toward_zero():
    assert to_signed(rr("div", (-7) & M32, 2)) == -3
    assert to_signed(rr("div", 7, (-2) & M32)) == -3
    assert rr("div", 7, 2) == 3


def test_rem_takes_the_sign_of_the_dividend():
    assert to_signed(rr("rem", (-7) & M32, 2)) == -1
    assert rr("rem", 7, (-2) & M32) == 1


def test_division_by_zero_has_defined_results():
    assert rr("div", 42, 0) == M32
    assert rr("divu", 42, 0) == M32
    assert rr("rem", 42, 0) == 42
    assert rr("remu", 42, 0) == 42
    assert rr("rem", (-5) & M32, 0) == (-5) & M32


def test_int_min_divided_by_minus_one_overflows_to_int_min():
    assert rr("div", INT_MIN, M32) == INT_MIN
    assert rr("rem", INT_MIN, M32) == 0


def test_divu_and_remu_are_unsigned():
    assert rr("divu", M32, 2) == 0x7FFFFFFF
    assert rr("remu", M32, 2) == 1


# --- r0 ------------------------------------------------------------------------------------------
def test_r0_reads_zero_after_being_written():
    m = halted(
        """
        _start: li a1, 5
                add zero, a1, a1
                addi zero, zero, 9
                lui zero, 0x1234
                add a0, zero, zero
                mv a2, zero
                halt
        """
    )
    assert m.regs["a0"] == 0 and m.regs["a2"] == 0 and m.regs[0] == 0


def test_writing_r0_does_not_touch_any_other_register():
    m = one("add zero, a1, a2")(a1=1, a2=2)
    assert list(m.regs)[3:] == [0, 0, 1, 2] + [0] * 9
    assert m.regs["sp"] == m.memory_size


# --- cycles ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "instr", ["add a0, a1, a2", "addi a0, a1, 1", "lui a0, 1", "mul a0, a1, a2", "div a0, a1, a2"]
)
def test_each_instruction_costs_its_class_cycles(instr):
    m = one(instr)(a1=7, a2=3)
    assert m.cycles == BY_NAME[instr.split()[0]].cycles
    assert m.instructions == 1


# --- every operation against the reference, on random operands ---------------------------------------
@pytest.mark.parametrize("op", sorted(REF))
@FEW
@given(a=word, b=word)
def test_register_operation_matches_reference(op, a, b):
    assert rr(op, a, b) == REF[op](a, b)


@pytest.mark.parametrize("op", sorted(REF_IMM))
@FEW
@given(a=word, i=imm16)
def test_immediate_operation_matches_reference(op, a, i):
    h = one(f"{op} a0, a1, 0")
    h.machine.reset()
    field = to_signed(_sext16(i)) if BY_NAME[op].imm == "simm" else i  # the 16-bit field is i
    h.machine.write_word(ORG, encode(op, rd=4, rs1=5, imm=field))
    h.machine.regs["a1"] = a
    h.machine.step(1)
    assert h.machine.regs["a0"] == REF_IMM[op](a, i)


@pytest.mark.parametrize("op", sorted(REF_SHIFT))
@FEW
@given(a=word, sh=st.integers(0, 31))
def test_immediate_shift_matches_reference(op, a, sh):
    assert one(f"{op} a0, a1, {sh}").result(a1=a) == REF_SHIFT[op](a, sh)


@FEW
@given(i=imm16)
def test_lui_matches_reference(i):
    h = one("lui a0, 0")
    h.machine.reset()
    h.machine.write_word(ORG, encode("lui", rd=4, imm=i))
    h.machine.step(1)
    assert h.machine.regs["a0"] == i << 16
