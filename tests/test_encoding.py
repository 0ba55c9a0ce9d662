"""encode() places fields where the table says and rejects bad fields; decode() accepts only
canonical words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmlab.isa import INSTRUCTIONS, decode, encode
from vmlab.isa.arch import CSR_NAMES
from vmlab.isa.encoding import imm_range, reg_fields


def test_encode_r_format_places_rd_rs1_rs2():
    # add a0, a1, a2
    assert encode("add", rd=4, rs1=5, rs2=6) == 0x01 | 4 << 8 | 5 << 12 | 6 << 16


def test_encode_i_format_puts_immediate_in_top_half():
    # addi a0, zero, 5
    assert encode("addi", rd=4, imm=5) == 0x00050420


def test_encode_negative_immediate_is_twos_complement():
    # addi sp, sp, -4
    assert encode("addi", rd=2, rs1=2, imm=-4) == 0xFFFC2220


def test_encode_store_puts_value_register_in_bits_11_8():
    # sw a0, 8(sp): rs2 = a0 (value), rs1 = sp (base)
    assert encode("sw", rs2=4, rs1=2, imm=8) == 0x3A | 4 << 8 | 2 << 12 | 8 << 16


def test_encode_branch_puts_rs1_low_and_rs2_high():
    assert encode("beq", rs1=4, rs2=5, imm=-1) == 0x40 | 4 << 8 | 5 << 12 | 0xFFFF << 16


def test_encode_jal_uses_a_20_bit_offset_at_bit_12():
    assert encode("jal", rd=1, imm=-2) == 0x48 | 1 << 8 | 0xFFFFE << 12


def test_encode_lui_takes_the_upper_half_value():
    assert encode("lui", rd=4, imm=0xFFFF) == 0xFFFF0429


def test_encode_csr_number_goes_in_the_immediate():
    assert encode("csrr", rd=4, imm=3) == 0x60 | 4 << 8 | 3 << 16


def test_encode_no_operand_instruction_is_its_opcode():
    assert encode("halt") == 0x5A


def test_encode_rejects_unknown_mnemonic():
    with pytest.raises(ValueError, match="unknown instruction 'addx'"):
        encode("addx")


@pytest.mark.parametrize("reg", [-1, 16])
def test_encode_rejects_register_numbers_outside_0_15(reg):
    with pytest.raises(ValueError, match=r"rd must be a register number 0\.\.15"):
        encode("add", rd=reg)


@pytest.mark.parametrize(
    ("name", "imm", "bounds"),
    [
        ("addi", 32768, "-32768..32767"),
        ("addi", -32769, "-32768..32767"),
        ("ori", -1, "0..65535"),
        ("ori", 65536, "0..65535"),
        ("lui", 0x10000, "0..65535"),
        ("slli", 32, "0..31"),
        ("beq", 32768, "-32768..32767"),
        ("jal", -524289, "-524288..524287"),
    ],
)
def test_encode_rejects_immediate_out_of_range_with_the_range(name, imm, bounds):
    with pytest.raises(ValueError, match=f"immediate {imm} out of range {bounds}"):
        encode(name, imm=imm)


@pytest.mark.parametrize(
    ("name", "fields", "missing"),
    [
        ("csrr", {"rd": 1, "rs1": 2, "imm": 0}, "rs1"),
        ("csrw", {"rd": 1, "rs1": 2, "imm": 0}, "rd"),
        ("add", {"rd": 1, "imm": 3}, "immediate"),
        ("halt", {"rd": 1}, "rd"),
        ("lui", {"rd": 1, "rs1": 1}, "rs1"),
    ],
)
def test_encode_rejects_a_field_the_syntax_does_not_name(name, fields, missing):
    with pytest.raises(ValueError, match=f"{name} has no {missing} operand"):
        encode(name, **fields)


def test_encode_rejects_unknown_csr_number():
    assert 15 not in CSR_NAMES
    with pytest.raises(ValueError, match="unknown CSR number 15"):
        encode("csrr", rd=1, imm=15)


def test_decode_returns_fields_and_row():
    d = decode(0xFFFC2220)
    assert d is not None
    assert (d.name, d.rd, d.rs1, d.rs2, d.imm) == ("addi", 2, 2, 0, -4)


def test_decode_returns_none_for_unknown_opcodes():
    assert decode(0x00000000) is None
    assert decode(0x000000FF) is None
    assert decode(0x00000013) is None


@pytest.mark.parametrize(
    ("word", "why"),
    [
        (0x01 | 1 << 20, "R format bits 31:20 set"),
        (0x5A | 1 << 8, "N format operand bits set"),
        (0x29 | 1 << 12, "U format bits 15:12 set"),
        (0x60 | 1 << 8 | 1 << 12, "csrr with rs1 != 0"),
        (0x61 | 1 << 8 | 1 << 12, "csrw with rd != 0"),
    ],
)
def test_decode_rejects_non_zero_reserved_bits(word, why):
    assert decode(word) is None, why


def test_decode_rejects_shift_amount_over_31():
    assert decode(0x26 | 1 << 8 | 32 << 16) is None
    assert decode(0x26 | 1 << 8 | 31 << 16) is not None


def test_decode_rejects_unknown_csr_number():
    assert decode(0x60 | 1 << 8 | 15 << 16) is None
    assert decode(0x60 | 1 << 8 | 14 << 16) is not None


def test_decode_zero_extends_unsigned_immediates():
    d = decode(encode("ori", rd=1, rs1=1, imm=0xFFFF))
    assert d is not None and d.imm == 0xFFFF


def test_decode_sign_extends_jal_offset_and_computes_wrapped_target():
    d = decode(encode("jal", rd=0, imm=-524288))
    assert d is not None and d.imm == -524288
    assert d.target(0) == (-4 * 524288) & 0xFFFFFFFF


def test_decode_rejects_values_that_are_not_32_bit_words():
    with pytest.raises(ValueError, match="not a 32-bit word"):
        decode(1 << 32)
    with pytest.raises(ValueError, match="not a 32-bit word"):
        decode(-1)


@st.composite
def canonical_fields(draw):
    """A row and valid field values for it."""
    row = draw(st.sampled_from(INSTRUCTIONS))
    fields = {f: draw(st.integers(0, 15)) for f in reg_fields(row)}
    if row.imm == "csr":
        fields["imm"] = draw(st.sampled_from(sorted(CSR_NAMES)))
    elif row.imm:
        lo, hi = imm_range(row)
        fields["imm"] = draw(st.integers(lo, hi))
    return row, fields


@settings(max_examples=1000, deadline=None)
@given(canonical_fields())
def test_decode_inverts_encode_for_any_valid_fields(case):
    row, fields = case
    d = decode(encode(row.name, **fields))
    assert d is not None and d.instr is row
    assert {f: getattr(d, f) for f in fields} == fields


@st.composite
def near_canonical_words(draw):
    """A canonical word with up to two random bits flipped (often no longer canonical)."""
    row, fields = draw(canonical_fields())
    word = encode(row.name, **fields)
    for _ in range(draw(st.integers(0, 2))):
        word ^= 1 << draw(st.integers(8, 31))
    return word


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.integers(0, 0xFFFFFFFF), near_canonical_words()))
def test_every_accepted_word_re_encodes_to_itself(word):
    d = decode(word)
    if d is not None:
        fields = {f: getattr(d, f) for f in reg_fields(d.instr)}
        assert encode(d.name, imm=d.imm, **fields) == word
