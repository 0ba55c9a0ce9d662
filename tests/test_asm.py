"""The assembler implements docs/assembly.md: instructions, labels, expressions, directives,
pseudo-instructions, includes, defines, conditionals, the symbol table, source map and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmlab.asm import assemble, assemble_file
from vmlab.image import Image
from vmlab.isa import encode

ORG = 0x1000


def words(image: Image, addr: int = ORG, n: int | None = None) -> list[int]:
    """The words stored from ``addr`` to the end of its segment (or ``n`` of them)."""
    for seg in image.segments:
        if seg.addr <= addr < seg.end:
            data = seg.data[addr - seg.addr :]
            count = len(data) // 4 if n is None else n
            return [int.from_bytes(data[4 * i : 4 * i + 4], "little") for i in range(count)]
    raise AssertionError(f"nothing at {addr:#x}")


def code(source: str, **kw) -> list[int]:
    """Assemble and return the words of the first segment."""
    img = assemble(source, **kw)
    return words(img, img.segments[0].addr)


def data(source: str, addr: int = ORG) -> bytes:
    """Assemble and return the bytes of the segment starting at ``addr``."""
    for seg in assemble(source).segments:
        if seg.addr == addr:
            return seg.data
    raise AssertionError(f"no segment at {addr:#x}")


def value(expr: str) -> int:
    """The value of an expression, via `.equ`."""
    return assemble(f".equ X, {expr}\n").symbols["X"]


# --- instructions and operands --------------------------------------------------------------
def test_register_instruction_assembles_from_table_syntax():
    assert code("add a0, a1, a2") == [encode("add", rd=4, rs1=5, rs2=6)]


def test_immediate_instruction_takes_a_signed_value():
    assert code("addi sp, sp, -16") == [encode("addi", rd=2, rs1=2, imm=-16)]


def test_memory_operand_is_offset_and_base_register():
    assert code("lw a0, 8(sp)\nsw a1, -4(s0)") == [
        encode("lw", rd=4, rs1=2, imm=8),
        encode("sw", rs2=5, rs1=12, imm=-4),
    ]


def test_memory_operand_without_offset_means_zero():
    assert code("lw a0, (sp)") == [encode("lw", rd=4, rs1=2, imm=0)]


def test_memory_operand_offset_may_be_an_expression_in_parentheses():
    assert code("lw a0, (2+2)*2(sp)") == [encode("lw", rd=4, rs1=2, imm=8)]


def test_numeric_and_abi_register_names_are_the_same():
    assert code("add r4, r5, r6") == code("add a0, a1, a2")


def test_fp_is_s0():
    assert code("mv fp, sp") == code("mv s0, sp")


def test_mnemonics_registers_and_csrs_are_case_insensitive():
    assert code("ADDI A0, ZERO, 1\nCSRR T0, STATUS") == code("addi a0, zero, 1\ncsrr t0, status")


def test_csr_operand_accepts_names_and_numbers():
    assert code("csrr a0, epc\ncsrr a0, 2\ncsrw tvec, a1\ncsrrw a0, scratch, a1") == [
        encode("csrr", rd=4, imm=2),
        encode("csrr", rd=4, imm=2),
        encode("csrw", rs1=5, imm=1),
        encode("csrrw", rd=4, rs1=5, imm=5),
    ]


def test_forward_branch_encodes_word_offset():
    assert code("beq a0, a1, skip\nnop\nskip: halt")[0] == encode("beq", rs1=4, rs2=5, imm=2)


def test_backward_branch_encodes_negative_offset():
    assert code("loop: nop\nbne a0, zero, loop")[1] == encode("bne", rs1=4, imm=-1)


def test_jal_with_register_and_target():
    assert code("jal t0, there\nthere: halt")[0] == encode("jal", rd=8, imm=1)


def test_branch_target_may_be_an_absolute_address():
    assert code(".org 0x2000\nbeq zero, zero, 0x1ffc")[0] == encode("beq", imm=-1)


def test_lui_takes_the_upper_half_value():
    assert code("lui a0, 0xBEEF") == [encode("lui", rd=4, imm=0xBEEF)]


def test_uimm_instructions_accept_0_to_0xffff():
    assert code("andi a0, a0, 0xFFFF") == [encode("andi", rd=4, rs1=4, imm=0xFFFF)]


def test_instructions_with_no_operands():
    assert code("syscall\nbreak\nhcall\neret\nwfi\nhalt\ntlbflush") == [
        encode(n) for n in ("syscall", "break", "hcall", "eret", "wfi", "halt", "tlbflush")
    ]


# --- lines, labels and comments ---------------------------------------------------------------
def test_comments_start_with_hash_or_semicolon():
    assert code("nop # one\nnop ; two\n# only a comment\n; another") == [encode("addi")] * 2


def test_comment_characters_inside_strings_are_text():
    assert data('.ascii "#;"') == b"#;"


def test_several_labels_on_one_line_share_the_address():
    img = assemble("a: b: c: nop")
    assert img.symbols["a"] == img.symbols["b"] == img.symbols["c"] == ORG


def test_label_on_its_own_line_names_the_next_statement():
    assert assemble("nop\nhere:\n\nnop").symbols["here"] == ORG + 4


def test_label_names_may_contain_dot_and_dollar():
    img = assemble(".L1$x: nop\n_a.b: nop")
    assert img.symbols[".L1$x"] == ORG and img.symbols["_a.b"] == ORG + 4


def test_labels_are_case_sensitive():
    img = assemble("Loop: nop\nloop: nop")
    assert img.symbols["Loop"] == ORG and img.symbols["loop"] == ORG + 4


def test_a_label_may_have_an_instruction_name():
    assert assemble("add: nop\nj add").symbols["add"] == ORG


def test_empty_source_gives_an_empty_image_at_the_default_origin():
    img = assemble("")
    assert img.segments == () and img.entry == ORG


# --- literals and expressions -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("42", 42),
        ("0x2A", 42),
        ("0X2a", 42),
        ("0b101010", 42),
        ("0o52", 42),
        ("1_000_000", 1000000),
        ("0xFFFF_0000", 0xFFFF0000),
        ("007", 7),
    ],
)
def test_number_literals(expr, expected):
    assert value(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("'a'", 97),
        ("'\\n'", 10),
        ("'\\t'", 9),
        ("'\\r'", 13),
        ("'\\0'", 0),
        ("'\\\\'", 92),
        ("'\\''", 39),
        ("'\"'", 34),
        ("'\\x41'", 65),
        ("'#'", 35),
    ],
)
def test_character_literals(expr, expected):
    assert value(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("1 << 2 + 1", 8),
        ("1 | 2 ^ 3 & 4", 1 | (2 ^ (3 & 4))),
        ("6 & 3 | 8", 10),
        ("-3 + 5", 2),
        ("~0", -1),
        ("+7", 7),
        ("- -7", 7),
        ("0x100 >> 4", 16),
        ("-16 >> 2", -4),
        ("10 - 2 - 3", 5),
        ("64 / 4 / 2", 8),
        ("2 * 3 % 4", 2),
    ],
)
def test_expression_operators_follow_c_precedence(expr, expected):
    assert value(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"), [("7 / 2", 3), ("-7 / 2", -3), ("7 / -2", -3), ("-7 / -2", 3)]
)
def test_division_truncates_toward_zero(expr, expected):
    assert value(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"), [("7 % 3", 1), ("-7 % 3", -1), ("7 % -3", 1), ("-7 % -3", -1)]
)
def test_remainder_has_the_sign_of_the_dividend(expr, expected):
    assert value(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("3 == 3", 1),
        ("3 != 3", 0),
        ("2 < 3", 1),
        ("3 <= 2", 0),
        ("3 > 2", 1),
        ("2 >= 3", 0),
        ("!0", 1),
        ("!5", 0),
        ("1 && 0", 0),
        ("0 || 2", 1),
        ("1 + 1 == 2 && 3 > 2", 1),
    ],
)
def test_comparison_and_logical_operators(expr, expected):
    assert value(expr) == expected


def test_dot_is_the_address_of_the_current_statement():
    img = assemble("nop\nhere: .word .\n.equ AFTER, .")
    assert words(img)[1] == ORG + 4
    assert img.symbols["AFTER"] == ORG + 8


def test_labels_and_constants_can_be_used_in_expressions():
    img = assemble(".equ SIZE, 4\nstart: nop\nend:\n.equ LEN, (end - start) * SIZE")
    assert img.symbols["LEN"] == 16


@pytest.mark.parametrize(
    "x", [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x12345678, 0x7FFF8000, 0xFFFF8000, 0xFFFFFFFF, -1, -32768]
)
def test_hi_and_lo_rebuild_any_32_bit_value(x):
    img = assemble(f".equ H, %hi({x})\n.equ L, %lo({x})")
    hi, lo = img.symbols["H"], img.symbols["L"]
    assert 0 <= hi <= 0xFFFF and -0x8000 <= lo <= 0x7FFF
    assert ((hi << 16) + lo) & 0xFFFFFFFF == x & 0xFFFFFFFF


def test_hi_lo_with_lui_addi_and_load_offset():
    img = assemble("lui a0, %hi(x)\naddi a0, a0, %lo(x)\nlw a1, %lo(x)(a0)\n.org 0x12348000\nx:")
    x = 0x12348000
    assert words(img) == [
        encode("lui", rd=4, imm=((x + 0x8000) >> 16) & 0xFFFF),
        encode("addi", rd=4, rs1=4, imm=-0x8000),
        encode("lw", rd=5, rs1=4, imm=-0x8000),
    ]


def test_forward_references_resolve_in_pass_two():
    assert code("j end\nnop\nend: halt")[0] == encode("jal", imm=2)


# --- directives ---------------------------------------------------------------------------------
def test_text_starts_at_0x1000():
    assert assemble("nop").segments[0].addr == 0x1000


def test_org_moves_the_location():
    img = assemble(".org 0x4000\nstart: nop")
    assert img.segments[0].addr == 0x4000 and img.symbols["start"] == 0x4000


def test_org_forward_leaves_a_gap_as_separate_segments():
    img = assemble("nop\n.org 0x1100\nnop")
    assert [(s.addr, len(s.data)) for s in img.segments] == [(0x1000, 4), (0x1100, 4)]


def test_contiguous_output_is_one_segment():
    img = assemble("nop\n.org 0x1004\nnop")
    assert [(s.addr, len(s.data)) for s in img.segments] == [(0x1000, 8)]


def test_data_follows_text_on_the_next_page():
    img = assemble(".data\nd: .word 1\n.text\nt: .space 0x1234")
    assert img.symbols["d"] == 0x3000
    assert img.symbols["t"] == 0x1000


def test_data_with_org_is_placed_there():
    img = assemble(".data\n.org 0x8000\nd: .byte 1\n.text\nnop")
    assert img.symbols["d"] == 0x8000


def test_switching_sections_continues_where_each_left_off():
    img = assemble("a: nop\n.data\nx: .byte 1\n.text\nb: nop\n.data\ny: .byte 2")
    assert img.symbols["b"] == img.symbols["a"] + 4
    assert img.symbols["y"] == img.symbols["x"] + 1


def test_data_labels_are_usable_before_their_address_is_known():
    img = assemble('la a0, msg\n.data\nmsg: .asciz "x"')
    assert img.symbols["msg"] == 0x2000
    assert words(img) == [encode("lui", rd=4, imm=0), encode("addi", rd=4, rs1=4, imm=0x2000)]


def test_word_half_byte_emit_little_endian_values():
    assert data(".word 0x11223344, -1\n.half 0xBEEF, -2\n.byte 1, 255, -128") == bytes.fromhex(
        "44332211ffffffffefbefeff01ff80"
    )


def test_ascii_and_asciz_emit_string_bytes_with_escapes():
    assert data('.ascii "a\\n\\t\\r\\0\\\\\\"\\x41", "b"\n.asciz "c", "d"') == (
        b'a\n\t\r\0\\"Ab' + b"c\0d\0"
    )


def test_string_may_contain_non_ascii_as_utf8():
    assert data('.ascii "é"') == "é".encode()


def test_space_emits_zeros_or_a_fill_byte():
    assert data(".space 3\n.space 2, 0xAB\n.space 1, -1") == b"\0\0\0\xab\xab\xff"


def test_space_zero_emits_nothing():
    img = assemble(".space 0\nx: nop")
    assert img.symbols["x"] == ORG


def test_align_pads_with_zeros_to_a_power_of_two():
    img = assemble(".byte 1\n.align 4\nx: .byte 2\n.align 16\ny:")
    assert img.symbols["x"] == ORG + 4 and img.symbols["y"] == ORG + 16
    assert img.segments[0].data[:5] == b"\x01\0\0\0\x02"


def test_align_when_already_aligned_emits_nothing():
    assert assemble("nop\n.align 4\nx: nop").symbols["x"] == ORG + 4


def test_align_in_data_uses_the_page_aligned_data_start():
    img = assemble(".data\n.byte 1\n.align 8\nx: .byte 2")
    assert img.symbols["x"] == 0x1008


def test_equ_and_assignment_define_constants():
    img = assemble(".equ A, 5\nB = A * 2\n.equ C, B + 1")
    assert (img.symbols["A"], img.symbols["B"], img.symbols["C"]) == (5, 10, 11)


def test_equ_may_refer_to_a_later_label():
    img = assemble(".equ LEN, end - start\nstart: nop\nnop\nend:")
    assert img.symbols["LEN"] == 8


def test_equ_constant_used_as_immediate():
    assert code(".equ N, 7\naddi a0, zero, N") == [encode("addi", rd=4, imm=7)]


def test_global_is_accepted_and_ignored():
    assert code(".global _start, main\n.globl other\n_start: nop") == [encode("addi")]


def test_entry_directive_sets_the_entry_point():
    assert assemble("nop\nmain: halt\n.entry main").entry == ORG + 4


def test_entry_defaults_to_start_label():
    assert assemble("nop\n_start: halt").entry == ORG + 4


def test_entry_defaults_to_the_first_text_address():
    assert assemble(".data\n.word 1\n.text\n.org 0x3000\nnop").entry == 0x3000


# --- .if / .default / defines ------------------------------------------------------------------
def test_if_assembles_the_true_branch_only():
    src = ".if 1\nli a0, 1\n.else\nli a0, 2\n.endif"
    assert code(src) == [encode("addi", rd=4, imm=1)]


def test_if_false_goes_to_else():
    src = ".if 0\nli a0, 1\n.else\nli a0, 2\n.endif"
    assert code(src) == [encode("addi", rd=4, imm=2)]


def test_elif_picks_the_first_true_branch():
    src = ".equ M, 2\n.if M == 1\nli a0, 1\n.elif M == 2\nli a0, 2\n.elif M >= 2\nli a0, 3\n.endif"
    assert code(src) == [encode("addi", rd=4, imm=2)]


def test_if_blocks_nest():
    src = ".if 1\n.if 0\nli a0, 1\n.else\nli a0, 2\n.endif\n.else\n.if 1\nli a0, 3\n.endif\n.endif"
    assert code(src) == [encode("addi", rd=4, imm=2)]


def test_skipped_lines_are_not_checked_and_define_nothing():
    img = assemble('.if 0\nbad: addx ??? "unterminated\n.endif\nnop')
    assert "bad" not in img.symbols


def test_elif_after_a_taken_branch_is_not_evaluated():
    assert code(".if 1\nnop\n.elif UNDEFINED\nhalt\n.endif") == [encode("addi")]


def test_include_inside_a_false_if_is_skipped():
    assert code('.if 0\n.include "does/not/exist.s"\n.endif\nhalt') == [encode("halt")]


def test_default_defines_a_missing_symbol():
    assert assemble(".default N, 3").symbols["N"] == 3


def test_default_keeps_a_value_given_by_defines():
    assert assemble(".default N, 3", defines={"N": 9}).symbols["N"] == 9


def test_default_keeps_an_earlier_equ():
    assert assemble(".equ N, 1\n.default N, 3").symbols["N"] == 1


def test_defines_drive_conditional_assembly():
    src = ".default DEBUG, 0\n.if DEBUG\nbreak\n.endif\nhalt"
    assert code(src) == [encode("halt")]
    assert code(src, defines={"DEBUG": 1}) == [encode("break"), encode("halt")]


# --- pseudo-instructions --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("nop", [("addi", {})]),
        ("mv a0, a1", [("addi", {"rd": 4, "rs1": 5})]),
        ("not a0, a1", [("sub", {"rd": 4, "rs2": 5}), ("addi", {"rd": 4, "rs1": 4, "imm": -1})]),
        ("neg a0, a1", [("sub", {"rd": 4, "rs2": 5})]),
        ("seqz a0, a1", [("sltiu", {"rd": 4, "rs1": 5, "imm": 1})]),
        ("snez a0, a1", [("sltu", {"rd": 4, "rs2": 5})]),
        ("jr t0", [("jalr", {"rs1": 8})]),
        ("ret", [("jalr", {"rs1": 1})]),
        ("push s1", [("addi", {"rd": 2, "rs1": 2, "imm": -4}), ("sw", {"rs2": 13, "rs1": 2})]),
        ("pop s1", [("lw", {"rd": 13, "rs1": 2}), ("addi", {"rd": 2, "rs1": 2, "imm": 4})]),
    ],
)
def test_pseudo_instruction_expansion(source, expected):
    assert code(source) == [encode(name, **fields) for name, fields in expected]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("j t", ("jal", {"rd": 0})),
        ("jal t", ("jal", {"rd": 1})),
        ("call t", ("jal", {"rd": 1})),
        ("beqz a0, t", ("beq", {"rs1": 4, "rs2": 0})),
        ("bnez a0, t", ("bne", {"rs1": 4, "rs2": 0})),
        ("bltz a0, t", ("blt", {"rs1": 4, "rs2": 0})),
        ("bgez a0, t", ("bge", {"rs1": 4, "rs2": 0})),
        ("blez a0, t", ("bge", {"rs1": 0, "rs2": 4})),
        ("bgtz a0, t", ("blt", {"rs1": 0, "rs2": 4})),
        ("bgt a0, a1, t", ("blt", {"rs1": 5, "rs2": 4})),
        ("ble a0, a1, t", ("bge", {"rs1": 5, "rs2": 4})),
        ("bgtu a0, a1, t", ("bltu", {"rs1": 5, "rs2": 4})),
        ("bleu a0, a1, t", ("bgeu", {"rs1": 5, "rs2": 4})),
    ],
)
def test_jump_and_branch_pseudo_instructions(source, expected):
    name, fields = expected
    assert code(f"{source}\nnop\nt: nop")[0] == encode(name, imm=2, **fields)


def test_li_small_known_value_is_one_addi():
    assert code("li a0, -32768\nli a1, 32767") == [
        encode("addi", rd=4, imm=-32768),
        encode("addi", rd=5, imm=32767),
    ]


@pytest.mark.parametrize("x", [0x8000, -32769, 0x12345678, 0xFFFFFFFF, -0x80000000, 0x7FFF8000])
def test_li_large_value_is_lui_plus_addi(x):
    assert code(f"li a0, {x}") == [
        encode("lui", rd=4, imm=((x + 0x8000) >> 16) & 0xFFFF),
        encode("addi", rd=4, rs1=4, imm=((x & 0xFFFF) ^ 0x8000) - 0x8000),
    ]


def test_li_with_a_forward_symbol_is_always_two_words():
    img = assemble("li a0, N\nafter: nop\n.equ N, 1")
    assert img.symbols["after"] == ORG + 8
    assert words(img)[:2] == [encode("lui", rd=4, imm=0), encode("addi", rd=4, rs1=4, imm=1)]


def test_la_is_always_two_words():
    img = assemble("x: la a0, x")
    assert words(img) == [encode("lui", rd=4, imm=0), encode("addi", rd=4, rs1=4, imm=0x1000)]


# --- includes -----------------------------------------------------------------------------------
def test_include_is_relative_to_the_including_file(tmp_path: Path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.s").write_text('.include "consts.s"\nutil: li a0, K\n')
    (tmp_path / "lib" / "consts.s").write_text(".equ K, 5\n")
    (tmp_path / "main.s").write_text('_start: call util\n.include "lib/util.s"\n')
    img = assemble_file(tmp_path / "main.s")
    assert img.symbols["util"] == ORG + 4
    assert words(img) == [encode("jal", rd=1, imm=1), encode("addi", rd=4, imm=5)]


def test_include_searches_the_include_dirs(tmp_path: Path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "k.s").write_text(".equ K, 3\n")
    img = assemble('.include "k.s"', include_dirs=[tmp_path / "inc"])
    assert img.symbols["K"] == 3


def test_the_same_file_may_be_included_twice_in_sequence(tmp_path: Path):
    (tmp_path / "n.s").write_text("nop\n")
    img = assemble('.include "n.s"\n.include "n.s"', include_dirs=[tmp_path])
    assert words(img) == [encode("addi")] * 2


def test_source_map_names_the_included_file_and_line(tmp_path: Path):
    (tmp_path / "inc.s").write_text("\n\nhalt\n")
    (tmp_path / "main.s").write_text('nop\n.include "inc.s"\n')
    img = assemble_file(tmp_path / "main.s")
    assert img.source_map == {
        ORG: (str(tmp_path / "main.s"), 1),
        ORG + 4: (str(tmp_path / "inc.s"), 3),
    }


# --- the image ----------------------------------------------------------------------------------
def test_source_map_covers_every_instruction_word_and_no_data():
    img = assemble("nop\n\nli a0, 0x12345678\n.word 7\npush a0", "p.s")
    assert img.source_map == {
        0x1000: ("p.s", 1),
        0x1004: ("p.s", 3),
        0x1008: ("p.s", 3),
        0x1010: ("p.s", 5),
        0x1014: ("p.s", 5),
    }


def test_symbol_table_holds_labels_constants_and_defines():
    img = assemble("start: nop\n.equ K, 4\n.data\nbuf: .space 4", defines={"D": 1})
    assert img.symbols == {"D": 1, "start": 0x1000, "K": 4, "buf": 0x2000}


def test_image_symbol_lookup():
    assert assemble("main: nop").symbol("main") == ORG
