"""Every kind of assembly error is reported with its message, file, line, column and caret, and
all errors of a run are reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmlab.asm import AssembleError, Diagnostic, assemble, assemble_file


def diagnostics(source: str, **kw) -> list[Diagnostic]:
    """The diagnostics of a source that must fail to assemble."""
    with pytest.raises(AssembleError) as info:
        assemble(source, "prog.s", **kw)
    return info.value.diagnostics


def only(source: str, **kw) -> Diagnostic:
    """The single diagnostic of a failing source."""
    diags = diagnostics(source, **kw)
    assert len(diags) == 1, "\n".join(map(str, diags))
    return diags[0]


def underlined(d: Diagnostic) -> str:
    """The source text the diagnostic's caret underlines."""
    return d.source_line[d.column - 1 : d.column - 1 + d.length]


# --- the report format ---------------------------------------------------------------------------
def test_error_names_file_line_and_column():
    d = only("nop\n    addx a0, a0, 1\n")
    assert (d.file, d.line, d.column) == ("prog.s", 2, 5)
    assert d.message == "unknown instruction 'addx'"
    assert d.source_line == "    addx a0, a0, 1"


def test_str_shows_location_source_line_and_caret():
    d = only("nop\n    addx a0, a0, 1\n")
    assert str(d) == ("prog.s:2:5: error: unknown instruction 'addx'\n    addx a0, a0, 1\n    ^~~~")


def test_caret_lines_up_after_tabs():
    d = only("\taddx a0, a0, 1")
    assert d.column == 2
    assert str(d).splitlines()[2] == " " * 8 + "^~~~"


def test_assemble_error_message_lists_every_diagnostic():
    with pytest.raises(AssembleError) as info:
        assemble("addx\nsubx\n", "p.s")
    text = str(info.value)
    assert "p.s:1:1: error: unknown instruction 'addx'" in text
    assert "p.s:2:1: error: unknown instruction 'subx'" in text
    assert len(text.splitlines()) == 6


def test_many_errors_are_reported_at_once_in_source_order():
    diags = diagnostics("bad1\nnop\nj nowhere\nli a0, 1/0\nbad2 a0\n.word 1 +\n")
    assert [(d.line, d.message) for d in diags] == [
        (1, "unknown instruction 'bad1'"),
        (3, "undefined symbol 'nowhere'"),
        (4, "division by zero"),
        (5, "unknown instruction 'bad2'"),
        (6, "expected a value at the end of the expression"),
    ]


def test_at_most_100_errors_per_file_are_kept():
    with pytest.raises(AssembleError) as info:
        assemble("bad\n" * 150)
    assert len(info.value.diagnostics) == 100
    assert info.value.suppressed == 50
    assert "50 more errors not shown" in str(info.value)


def test_one_bad_operand_is_reported_once_for_a_two_word_pseudo():
    diags = diagnostics("li a0, missing")
    assert [d.message for d in diags] == ["undefined symbol 'missing'"]


# --- instructions and operands -------------------------------------------------------------------
def test_unknown_directive():
    d = only("  .wrod 1")
    assert d.message == "unknown directive '.wrod'" and underlined(d) == ".wrod"


def test_wrong_operand_count_shows_the_syntax():
    d = only("add a0, a1")
    assert d.message == "wrong number of operands for 'add': expected 3 (add rd, rs1, rs2), got 2"
    assert underlined(d) == "a0, a1"


def test_wrong_operand_count_for_a_pseudo_instruction():
    d = only("li a0")
    assert d.message == "wrong number of operands for 'li': expected 2, got 1"


def test_register_expected_but_number_given():
    d = only("add a0, a1, 5")
    assert d.message == "expected a register for rs2, got '5'" and underlined(d) == "5"


def test_unknown_register_number():
    d = only("lw a0, 4(r16)")
    assert d.message == "unknown register 'r16' (r0..r15)" and underlined(d) == "r16"


def test_register_where_a_value_is_expected():
    d = only("addi a0, a0, a1")
    assert d.message == "expected a value, got register 'a1'" and underlined(d) == "a1"


def test_memory_operand_without_base_register():
    d = only("lw a0, 8")
    assert d.message == "expected 'offset(register)', got '8'"


def test_missing_operand_between_commas():
    d = only("add a0,, a1")
    assert d.message == "missing operand before ','" and d.column == 8


def test_trailing_comma():
    d = only(".word 1, 2,")
    assert d.message == "missing operand after ','" and d.column == 11


def test_unknown_csr_name():
    d = only("csrr a0, stauts")
    assert d.message == "unknown CSR 'stauts' (expected a CSR name such as status, or a number)"
    assert underlined(d) == "stauts"


def test_unknown_csr_number():
    d = only("csrr a0, 15")
    assert d.message == "unknown CSR number 15" and underlined(d) == "15"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("addi a0, a0, 32768", "immediate 32768 out of range for 'addi' (-32768..32767)"),
        ("ori a0, a0, -1", "immediate -1 out of range for 'ori' (0..65535)"),
        ("slli a0, a0, 32", "immediate 32 out of range for 'slli' (0..31)"),
        ("lui a0, 0x10000", "immediate 65536 out of range for 'lui' (0..65535)"),
        ("lw a0, 40000(sp)", "immediate 40000 out of range for 'lw' (-32768..32767)"),
        ("li a0, 0x100000000", "value 4294967296 out of range for 'li' (-2147483648..4294967295)"),
    ],
)
def test_immediate_out_of_range_names_the_range(source, message):
    assert only(source).message == message


def test_misaligned_branch_target():
    d = only("beq a0, a1, 0x1002")
    assert d.message == "target 0x00001002 is not 4-byte aligned" and underlined(d) == "0x1002"


def test_branch_target_out_of_range():
    d = only("beq a0, a1, far\n.org 0x30000\nfar: nop")
    assert d.line == 1
    assert d.message == (
        "target 0x00030000 out of range for 'beq' (48128 words away; the range is -32768..32767)"
    )


def test_jal_target_out_of_range():
    d = only("j far\n.org 0x400000\nfar: nop")
    assert "out of range for 'jal'" in d.message and "-524288..524287" in d.message


def test_instruction_at_misaligned_address():
    d = only(".byte 1\nnop")
    assert (
        d.line == 2 and d.message == "instruction at misaligned address 0x00001001 (use .align 4)"
    )


# --- symbols -----------------------------------------------------------------------------------------
def test_undefined_symbol_suggests_close_names():
    d = only("loop: nop\nj lopp")
    assert d.message == "undefined symbol 'lopp' (did you mean 'loop'?)" and underlined(d) == "lopp"


def test_duplicate_label_names_the_first_definition():
    d = only("x: nop\nx: nop")
    assert d.line == 2 and d.message == "duplicate symbol 'x' (first defined at prog.s:1)"


def test_equ_of_a_define_is_a_duplicate():
    d = only(".equ N, 1", defines={"N": 2})
    assert d.message == "duplicate symbol 'N' (first defined at the defines)"


def test_register_name_cannot_be_a_label():
    d = only("a0: nop")
    assert d.message == "'a0' is a reserved name and cannot be a symbol"


def test_equ_with_undefined_symbol_is_reported_at_the_equ():
    d = only("nop\n.equ K, missing + 1\nli a0, K")
    assert d.line == 2 and d.message == "undefined symbol 'missing'" and underlined(d) == "missing"


def test_circular_equ_is_reported_once():
    d = only(".equ A, B\n.equ B, A\n")
    assert d.line == 1 and d.message == "circular definition of 'A'"


def test_bad_equ_does_not_cascade_into_its_uses():
    d = only(".equ A, B + 1\n.equ B, C\n.equ C, 1/0\nli a0, A")
    assert d.line == 3 and d.message == "division by zero"


def test_entry_must_be_defined():
    assert only(".entry main\nnop").message == "undefined symbol 'main'"


def test_entry_must_be_aligned():
    assert (
        only("nop\n.entry 0x1002").message == "entry point 0x1002 is not a 4-byte aligned address"
    )


def test_entry_set_twice():
    assert only("a: nop\n.entry a\n.entry a").message == "entry point already set at prog.s:2"


def test_invalid_define_name_raises_value_error():
    with pytest.raises(ValueError, match="not a valid symbol name"):
        assemble("nop", defines={"1x": 1})


def test_non_integer_define_raises_type_error():
    with pytest.raises(TypeError, match="must be an int"):
        assemble("nop", defines={"X": "1"})


# --- literals and expressions --------------------------------------------------------------------
@pytest.mark.parametrize("literal", ["0x", "12abc", "0b102", "0o9", "1_", "0xG"])
def test_bad_number_literal(literal):
    d = only(f"li a0, {literal}")
    assert d.message == f"bad number literal '{literal}'" and underlined(d) == literal


def test_unterminated_string():
    d = only('.ascii "abc')
    assert d.message == "unterminated string literal" and underlined(d) == '"abc'


def test_unterminated_character_literal():
    assert only("li a0, 'a").message == "unterminated character literal"


def test_character_literal_with_two_characters():
    assert only("li a0, 'ab'").message == "a character literal holds exactly one character"


def test_unknown_escape_sequence():
    d = only('.ascii "a\\qb"')
    assert d.message == "unknown escape sequence '\\q'" and underlined(d) == "\\q"


def test_bad_hex_escape():
    assert only('.ascii "\\x4"').message == "bad escape: '\\x' needs two hex digits"


def test_division_by_zero_points_at_the_operator():
    d = only(".word 4 / (2 - 2)")
    assert d.message == "division by zero" and underlined(d) == "/"


def test_remainder_by_zero():
    assert only(".equ X, 5 % 0").message == "division by zero"


def test_huge_shift_is_an_error_not_a_hang():
    assert only(".equ X, 1 << 100000000").message == "shift count 100000000 out of range 0..64"


def test_unexpected_character():
    d = only("li a0, 3 @ 4")
    assert d.message == "unexpected character '@'" and underlined(d) == "@"


def test_unbalanced_parenthesis():
    assert only("li a0, (1 + 2").message == "expected ')' at the end of the expression"


def test_trailing_tokens_in_expression():
    assert only("li a0, 1 2").message == "unexpected token in expression, got '2'"


# --- directives --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "message"),
    [
        (".word 0x100000000", "value 4294967296 does not fit in 32 bits (-2147483648..4294967295)"),
        (".half 65536", "value 65536 does not fit in 16 bits (-32768..65535)"),
        (".byte -129", "value -129 does not fit in 8 bits (-128..255)"),
        (".space 2, 256", "fill value 256 does not fit in a byte (-128..255)"),
    ],
)
def test_data_value_out_of_range(source, message):
    assert only(source).message == message


def test_data_directive_needs_values():
    assert only(".word").message == "'.word' needs at least one value"


def test_ascii_needs_strings():
    assert only(".ascii 5").message == "expected a string, got '5'"


def test_space_size_must_be_known_when_reached():
    d = only(".space N\n.equ N, 4")
    assert d.message == "undefined symbol 'N' (.space needs a value known at this point)"


def test_space_size_must_be_reasonable():
    assert "out of range" in only(".space -1").message


def test_align_needs_a_power_of_two():
    assert only(".align 3").message == ".align needs a power of two 1..4096, got 3"


def test_org_outside_the_address_space():
    assert only(".org 0x100000000").message == ".org address 4294967296 outside 0..0xFFFFFFFF"


def test_org_backwards_over_emitted_bytes_is_overlapping_output():
    d = only("nop\nnop\n.org 0x1004\nhalt")
    assert d.line == 3
    assert d.message == (
        "overlapping output: 0x00001004..0x00001008 (prog.s:3) overlaps 0x00001000..0x00001008 (.text)"
    )
    assert underlined(d) == ".org"


def test_text_growing_into_an_org_block_is_overlapping_output():
    d = only(".data\n.org 0x1004\n.word 1\n.text\nnop\nnop")
    assert d.message.startswith("overlapping output")


def test_output_past_the_end_of_the_address_space():
    assert only(".org 0xFFFFFFFC\nnop\nnop").message == (
        "output runs past the end of the 32-bit address space"
    )


def test_equ_needs_a_name_and_a_value():
    assert only(".equ 5, 5").message == "expected a symbol name, got '5'"
    assert only(".equ X").message == "wrong number of operands for '.equ': expected 2, got 1"


def test_include_needs_a_string():
    assert only(".include foo").message == "'.include' needs one string operand"


# --- conditional assembly ---------------------------------------------------------------------------
def test_if_needs_a_known_value():
    d = only(".if LATER\n.endif\nLATER = 1")
    assert d.message == "undefined symbol 'LATER' (.if needs a value known at this point)"


def test_endif_without_if():
    assert only(".endif").message == "'.endif' without '.if'"


def test_else_without_if():
    assert only(".else").message == "'.else' without '.if'"


def test_else_after_else():
    assert only(".if 1\n.else\n.else\n.endif").message == "'.else' after '.else'"


def test_elif_after_else():
    assert only(".if 0\n.else\n.elif 1\n.endif").message == "'.elif' after '.else'"


def test_if_without_endif_is_reported_at_the_if():
    d = only("nop\n  .if 1\nnop")
    assert (
        d.line == 2 and d.message == "'.if' without a matching '.endif'" and underlined(d) == ".if"
    )


# --- includes ------------------------------------------------------------------------------------------
def test_missing_include_lists_the_searched_directories(tmp_path: Path):
    d = only('.include "nope.s"', include_dirs=[tmp_path])
    assert d.message == f"cannot find include file 'nope.s' (searched: ., {tmp_path})"
    assert underlined(d) == '"nope.s"'


def test_include_cycle_is_reported(tmp_path: Path):
    (tmp_path / "a.s").write_text('.include "b.s"\n')
    (tmp_path / "b.s").write_text('nop\n.include "a.s"\n')
    with pytest.raises(AssembleError) as info:
        assemble_file(tmp_path / "a.s")
    [d] = info.value.diagnostics
    assert (d.file, d.line) == (str(tmp_path / "b.s"), 2)
    assert d.message == "include cycle: a.s -> b.s -> a.s"


def test_self_include_is_a_cycle(tmp_path: Path):
    (tmp_path / "a.s").write_text('.include "a.s"\n')
    with pytest.raises(AssembleError, match=r"include cycle: a\.s -> a\.s"):
        assemble_file(tmp_path / "a.s")


def test_error_inside_an_included_file_names_that_file(tmp_path: Path):
    (tmp_path / "inc.s").write_text("nop\nbogus\n")
    (tmp_path / "main.s").write_text('.include "inc.s"\naddx\n')
    with pytest.raises(AssembleError) as info:
        assemble_file(tmp_path / "main.s")
    assert [(Path(d.file).name, d.line) for d in info.value.diagnostics] == [
        ("main.s", 2),
        ("inc.s", 2),
    ]


def test_missing_top_level_file_raises_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        assemble_file(tmp_path / "absent.s")


# ---- hostile files: not UTF-8, absurdly deep ----------------------------------------------------
def test_a_source_file_that_is_not_utf8_is_an_error_at_its_first_bad_byte(tmp_path: Path):
    path = tmp_path / "latin1.s"
    path.write_bytes(b"_start: li a0, 1\n        li a1, 2 # caf\xe9\n        halt\n")
    with pytest.raises(AssembleError) as info:
        assemble_file(path)
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.column) == (str(path), 2, 23)
    assert "not UTF-8 text (byte 0xe9)" in d.message and d.source_line.endswith("caf\ufffd")


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ("1" + "+1" * 300, "expression too long (more than 256 operations in a chain)", 16),
        ("(" * 40 + "1" + ")" * 40, "expression nested too deeply (more than 32 levels)", 48),
        ("-" * 5000 + "1", "expression nested too deeply (more than 32 levels)", 48),
        ("%hi(" * 40 + "1" + ")" * 40, "expression nested too deeply (more than 32 levels)", 144),
    ],
)
def test_absurdly_deep_expressions_are_errors_not_crashes(
    expression: str, message: str, column: int
) -> None:
    with pytest.raises(AssembleError) as info:
        assemble(f"_start: li a0, {expression}\n        halt\n")
    (d,) = info.value.diagnostics
    assert (d.line, d.column, d.message) == (1, column, message)


def test_expressions_well_inside_the_limits_still_work() -> None:
    image = assemble("_start: li a0, " + "(" * 30 + "1" + "+1" * 200 + ")" * 30 + "\n halt\n")
    assert image.word_at(0x1000) != 0  # assembled (li of 201)


def test_includes_nested_too_deep_are_an_error(tmp_path: Path):
    for i in range(100):
        (tmp_path / f"i{i}.s").write_text(f'.include "i{i + 1}.s"\n')
    (tmp_path / "i100.s").write_text("_start: halt\n")
    with pytest.raises(AssembleError, match=r"i31\.s:1:10: error: includes nested more than 32"):
        assemble_file(tmp_path / "i0.s")
    (tmp_path / "i20.s").write_text("_start: halt\n")  # 21 deep: fine
    assert assemble_file(tmp_path / "i0.s").entry == 0x1000
