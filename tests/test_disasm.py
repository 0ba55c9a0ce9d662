"""The disassembler prints text that re-assembles to the same word, and readable listings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmlab.asm import assemble, disassemble, disassemble_word
from vmlab.image import Image, Segment
from vmlab.isa import INSTRUCTIONS, decode, encode
from vmlab.isa.arch import CSR_NAMES
from vmlab.isa.encoding import imm_range, reg_fields

ALIGNED_PCS = st.integers(0, 0x3FFFFFFF).map(lambda n: 4 * n)


def reassemble(text: str, pc: int) -> int:
    """Assemble one line at ``pc`` and return the word it produces."""
    return assemble(f".org {pc:#x}\n{text}\n").word_at(pc)


@st.composite
def canonical_words(draw):
    """A canonical encoding of a random row with random field values."""
    row = draw(st.sampled_from(INSTRUCTIONS))
    fields = {f: draw(st.integers(0, 15)) for f in reg_fields(row)}
    if row.imm == "csr":
        fields["imm"] = draw(st.sampled_from(sorted(CSR_NAMES)))
    elif row.imm:
        fields["imm"] = draw(st.integers(*imm_range(row)))
    return encode(row.name, **fields)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.integers(0, 0xFFFFFFFF), canonical_words()), ALIGNED_PCS)
def test_any_word_round_trips_through_disassembly(word, pc):
    text = disassemble_word(word, pc)
    assert reassemble(text, pc) == word, text
    assert text.startswith(".word") == (decode(word) is None)


def row_sample(row, low: bool) -> int:
    """A word for a row with distinct registers and an extreme immediate."""
    fields = {f: (7 * i + 3 + low) % 16 for i, f in enumerate(reg_fields(row))}
    if row.imm == "csr":
        fields["imm"] = min(CSR_NAMES) if low else max(CSR_NAMES)
    elif row.imm:
        lo, hi = imm_range(row)
        fields["imm"] = lo if low else hi
    return encode(row.name, **fields)


@pytest.mark.parametrize("low", [True, False], ids=["min", "max"])
@pytest.mark.parametrize("row", [pytest.param(r, id=r.name) for r in INSTRUCTIONS])
def test_every_row_round_trips_at_a_high_address(row, low):
    word = row_sample(row, low)
    pc = 0x80001000
    text = disassemble_word(word, pc)
    assert text.split()[0] == row.name
    assert reassemble(text, pc) == word


@pytest.mark.parametrize(
    ("word", "pc", "text"),
    [
        (encode("add", rd=4, rs1=5, rs2=6), 0, "add a0, a1, a2"),
        (encode("addi", rd=2, rs1=2, imm=-16), 0, "addi sp, sp, -16"),
        (encode("andi", rd=4, rs1=4, imm=0xFF), 0, "andi a0, a0, 0xff"),
        (encode("lui", rd=4, imm=0x1234), 0, "lui a0, 0x1234"),
        (encode("slli", rd=8, rs1=8, imm=3), 0, "slli t0, t0, 3"),
        (encode("lw", rd=4, rs1=2, imm=-4), 0, "lw a0, -4(sp)"),
        (encode("sw", rs2=1, rs1=12, imm=8), 0, "sw ra, 8(s0)"),
        (encode("beq", rs1=4, rs2=0, imm=-1), 0x1000, "beq a0, zero, 0x00000ffc"),
        (encode("jal", rd=1, imm=4), 0x2000, "jal ra, 0x00002010"),
        (encode("jalr", rs1=1), 0, "jalr zero, 0(ra)"),
        (encode("csrr", rd=4, imm=3), 0, "csrr a0, cause"),
        (encode("csrw", rs1=5, imm=1), 0, "csrw tvec, a1"),
        (encode("csrrw", rd=4, rs1=5, imm=5), 0, "csrrw a0, scratch, a1"),
        (encode("halt"), 0, "halt"),
    ],
)
def test_disassembly_text(word, pc, text):
    assert disassemble_word(word, pc) == text


def test_branch_target_wraps_around_the_address_space():
    assert disassemble_word(encode("beq", imm=-1), 0) == "beq zero, zero, 0xfffffffc"


def test_non_canonical_word_prints_as_word_directive():
    assert disassemble_word(0x000001FF) == ".word 0x000001ff"
    assert disassemble_word(0x5A | 1 << 8) == ".word 0x0000015a"


def test_listing_shows_address_bytes_in_memory_order_and_text():
    assert disassemble(bytes.fromhex("200405005a000000"), 0x1000) == [
        "0x00001000: 20 04 05 00  addi a0, zero, 5",
        "0x00001004: 5a 00 00 00  halt",
    ]


def test_listing_of_bytes_defaults_to_address_zero():
    assert disassemble(bytes.fromhex("5a000000"))[0].startswith("0x00000000: 5a 00 00 00  halt")


def test_listing_shows_labels_and_source_lines():
    img = assemble("_start: li a0, 1\nloop: j loop\n", "p.s")
    assert disassemble(img) == [
        "_start:",
        f"{'0x00001000: 20 04 01 00  addi a0, zero, 1':<56}# p.s:1",
        "loop:",
        f"{'0x00001004: 48 00 00 00  jal zero, 0x00001004':<56}# p.s:2",
    ]


def test_listing_starts_at_addr_and_stops_after_count():
    img = assemble("nop\nnop\nhalt\nnop")
    lines = disassemble(img, 0x1008, count=1)
    assert lines == [f"{'0x00001008: 5a 00 00 00  halt':<56}# <input>:3"]


def test_listing_covers_every_segment_in_address_order():
    img = Image([Segment(0x2000, encode("halt").to_bytes(4, "little")), Segment(0, b"\0" * 4)])
    assert [line[:10] for line in disassemble(img)] == ["0x00000000", "0x00002000"]


def test_listing_shows_trailing_bytes_as_byte_directive():
    assert disassemble(b"\x01\x02", 0x10) == ["0x00000010: 01 02        .byte 0x01, 0x02"]


def test_listing_rejects_an_address_outside_the_image():
    with pytest.raises(ValueError, match="no segment of the image contains address 0x00005000"):
        disassemble(assemble("nop"), 0x5000)
