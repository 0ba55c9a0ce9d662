"""Loads, stores and the decode cache (docs/isa.md, docs/machine.md "Processor").

RAM outside the program is poisoned with 0xA5 bytes, so a load that reads a byte it should not,
or a store that writes one it should not, shows up as a wrong value next to the expected one.
"""

from __future__ import annotations

import pytest
from conftest import M32, ORG, POISON, OneInstruction, halted, run_asm
from hypothesis import given, settings
from hypothesis import strategies as st

from vmlab.isa import encode
from vmlab.isa.table import BY_NAME

DATA = 0x2000
BYTES = bytes([0x7F, 0x80, 0xFF, 0x01])  # the word 0x01FF807F

_harness: dict[str, OneInstruction] = {}


def one(instr: str) -> OneInstruction:
    """A cached single-instruction harness."""
    if instr not in _harness:
        _harness[instr] = OneInstruction(instr)
    return _harness[instr]


def load(instr: str, data: bytes = BYTES, base: int = DATA) -> int:
    """Run a load ``instr`` (rd a0, base a1 = ``base``) over ``data`` at DATA; the value of a0."""
    return one(instr).result(mem={DATA: data}, a1=base)


def store(instr: str, value: int, base: int = DATA) -> bytes:
    """Run a store ``instr`` (value a2, base a1) and return the 8 bytes at DATA."""
    m = one(instr)(a1=base, a2=value)
    return m.read(DATA, 8)


# --- loads ---------------------------------------------------------------------------------------
def test_lw_reads_a_little_endian_word():
    assert load("lw a0, 0(a1)", bytes([0x78, 0x56, 0x34, 0x12])) == 0x12345678


def test_lb_sign_extends_the_byte():
    assert load("lb a0, 1(a1)") == 0xFFFFFF80
    assert load("lb a0, 0(a1)") == 0x7F


def test_lbu_zero_extends_the_byte():
    assert load("lbu a0, 1(a1)") == 0x80
    assert load("lbu a0, 2(a1)") == 0xFF


@pytest.mark.parametrize("offset", range(4))
def test_byte_loads_pick_the_addressed_byte(offset):
    assert load(f"lbu a0, {offset}(a1)") == BYTES[offset]


def test_lh_sign_extends_the_halfword():
    assert load("lh a0, 0(a1)") == 0xFFFF807F
    assert load("lh a0, 2(a1)") == 0x01FF


def test_lhu_zero_extends_the_halfword():
    assert load("lhu a0, 0(a1)") == 0x807F
    assert load("lhu a0, 2(a1)", bytes([0, 0, 0x00, 0x80])) == 0x8000


def test_load_offset_is_sign_extended():
    assert load("lw a0, -4(a1)", base=DATA + 4) == 0x01FF807F


def test_effective_address_wraps_modulo_2_32():
    # 0xFFFFFFF0 + 0x2010 = 0x1_00002000 -> 0x2000
    assert load("lw a0, 0x2010(a1)", base=0xFFFFFFF0) == 0x01FF807F


def test_load_into_r0_is_discarded():
    m = one("lw zero, 0(a1)")(mem={DATA: BYTES}, a1=DATA)
    assert m.regs[0] == 0


def test_loads_see_data_assembled_into_the_image():
    m = halted(
        """
        _start: la a1, table
                lw a0, 4(a1)
                lh a2, 8(a1)
                lbu a3, 9(a1)
                halt
        .data
        table:  .word 1, 0xCAFEF00D
                .half 0x8001
                .byte 7
        """
    )
    assert (m.regs["a0"], m.regs["a2"], m.regs["a3"]) == (0xCAFEF00D, 0xFFFF8001, 0x80)


# --- stores -------------------------------------------------------------------------------------
P = POISON


def test_sw_writes_a_little_endian_word():
    assert store("sw a2, 0(a1)", 0x12345678) == bytes([0x78, 0x56, 0x34, 0x12, P, P, P, P])


def test_sh_writes_only_its_two_bytes():
    assert store("sh a2, 2(a1)", 0x12345678) == bytes([P, P, 0x78, 0x56, P, P, P, P])


@pytest.mark.parametrize("offset", range(4))
def test_sb_writes_only_its_byte(offset):
    expected = bytearray([P] * 8)
    expected[offset] = 0x78
    assert store(f"sb a2, {offset}(a1)", 0x12345678) == bytes(expected)


def test_store_offset_is_sign_extended():
    assert store("sw a2, -4(a1)", 0xAABBCCDD, base=DATA + 8)[4:] == bytes([0xDD, 0xCC, 0xBB, 0xAA])


def test_store_marks_its_page_dirty():
    m = one("sb a2, 0(a1)")(a1=0x5000, a2=1)
    assert m.dirty[5] == 1
    assert m.dirty.sum() == 1


def test_store_then_load_round_trip():
    m = halted(
        """
        _start: la s0, buf
                li t0, -2
                sw t0, 0(s0)
                sh t0, 4(s0)
                sb t0, 6(s0)
                lw a0, 0(s0)
                lhu a1, 4(s0)
                lb a2, 6(s0)
                lbu a3, 7(s0)
                halt
        .data
        buf:    .space 8
        """
    )
    assert [m.regs[r] for r in ("a0", "a1", "a2", "a3")] == [0xFFFFFFFE, 0xFFFE, 0xFFFFFFFE, 0]


@settings(max_examples=40, deadline=None)
@given(value=st.integers(0, M32), offset=st.integers(0, 3))
def test_byte_store_and_load_agree_with_python(value, offset):
    m = one(f"sb a2, {offset}(a1)")(a1=DATA, a2=value)
    expected = bytearray([P] * 4)
    expected[offset] = value & 0xFF
    assert m.read(DATA, 4) == bytes(expected)


@pytest.mark.parametrize("instr", ["lw a0, 0(a1)", "lbu a0, 0(a1)", "sw a2, 0(a1)", "sb a2, 0(a1)"])
def test_loads_and_stores_cost_their_class_cycles(instr):
    m = one(instr)(a1=DATA)
    assert m.cycles == BY_NAME[instr.split()[0]].cycles == 2


# --- the decode cache ----------------------------------------------------------------------------
def test_store_over_an_instruction_that_already_ran_takes_effect():
    m = halted(
        """
        _start: li s0, 0
        again:
        target: addi a0, a0, 1          # the first pass runs this; the second the patched word
                bnez s0, done
                li s0, 1
                la t0, target
                la t1, patch
                lw t1, 0(t1)
                sw t1, 0(t0)            # overwrite 'target' with 'addi a0, a0, 100'
                j again
        done:   halt
        .data
        patch:  addi a0, a0, 100
        """
    )
    assert m.regs["a0"] == 101


def test_store_over_the_next_instruction_takes_effect():
    m = halted(
        """
        _start: la t0, next
                la t1, patch
                lw t1, 0(t1)
                sw t1, 0(t0)
        next:   li a0, 1                # replaced before it runs
                halt
        .data
        patch:  li a0, 2
        """
    )
    assert m.regs["a0"] == 2


def test_byte_store_into_an_instruction_takes_effect():
    # 'addi a0, zero, 1' has its immediate in the top half; patch its low immediate byte to 9
    m = halted(
        """
        _start: la t0, target
                li t1, 9
                sb t1, 2(t0)
                j target
        target: addi a0, zero, 1
                halt
        """
    )
    assert m.regs["a0"] == 9


def test_machine_write_invalidates_decoded_instructions():
    m, res = run_asm("_start: addi a0, a0, 1\n halt", max_instructions=1)
    assert res.reason == "budget" and m.regs["a0"] == 1
    m.write_word(ORG, encode("addi", rd=4, rs1=4, imm=10))
    m.pc = ORG
    m.step(1)
    assert m.regs["a0"] == 11


def test_machine_write_of_a_partial_word_invalidates_it():
    m, _ = run_asm("_start: addi a0, a0, 1\n halt", max_instructions=1)
    m.write(ORG + 2, (10).to_bytes(2, "little"))  # only the immediate half
    m.pc = ORG
    m.step(1)
    assert m.regs["a0"] == 11
