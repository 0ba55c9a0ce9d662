"""The instruction table is consistent and every row encodes and decodes back to itself."""

from __future__ import annotations

import pytest

from vmlab.isa import BY_NAME, CLASS_CYCLES, FORMATS, INSTRUCTIONS, OPCODE, decode, encode
from vmlab.isa.arch import CSR_NAMES
from vmlab.isa.encoding import imm_range, operands, reg_fields

ROWS = [pytest.param(row, id=row.name) for row in INSTRUCTIONS]
OPERAND_KINDS = {"rd", "rs1", "rs2", "imm", "csr", "imm(rs1)"}
IMM_KINDS = {"", "simm", "uimm", "shamt", "csr", "off"}


def sample_fields(row, variant: int) -> dict[str, int]:
    """Distinct non-zero register numbers and an extreme immediate for a row."""
    regs = {f: (3 * i + 5 + variant) % 16 for i, f in enumerate(reg_fields(row))}
    lo, hi = imm_range(row)
    if row.imm == "csr":
        imm = sorted(CSR_NAMES)[variant % len(CSR_NAMES)]
    elif row.imm:
        imm = (lo, hi, -1 if lo < 0 else 1)[variant % 3]
    else:
        imm = 0
    return {**regs, "imm": imm}


def test_opcodes_are_unique():
    assert len({row.opcode for row in INSTRUCTIONS}) == len(INSTRUCTIONS)


def test_mnemonics_are_unique_and_lowercase():
    names = [row.name for row in INSTRUCTIONS]
    assert len(set(names)) == len(names)
    assert all(name == name.lower() for name in names)


def test_opcode_map_matches_rows():
    assert OPCODE == {row.name: row.opcode for row in INSTRUCTIONS}
    assert all(BY_NAME[row.name] is row for row in INSTRUCTIONS)


@pytest.mark.parametrize("row", ROWS)
def test_row_uses_known_format_class_and_imm_kind(row):
    assert row.fmt in FORMATS
    assert row.cls in CLASS_CYCLES
    assert row.imm in IMM_KINDS
    assert row.cycles == CLASS_CYCLES[row.cls]
    assert row.meaning


@pytest.mark.parametrize("row", ROWS)
def test_row_syntax_parses_into_fields_of_its_format(row):
    ops = operands(row)
    assert set(ops) <= OPERAND_KINDS
    fields = set(FORMATS[row.fmt][0])
    for op in ops:
        named = {"imm(rs1)": {"imm", "rs1"}, "csr": {"imm"}}.get(op, {op})
        assert named <= fields, f"{row.name}: {op} is not a field of format {row.fmt}"
    has_imm = any(op in ("imm", "csr", "imm(rs1)") for op in ops)
    assert has_imm == bool(row.imm), f"{row.name}: immediate kind and syntax disagree"


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_row_encodes_and_decodes_back(row, variant):
    fields = sample_fields(row, variant)
    word = encode(row.name, **fields)
    assert word & 0xFF == row.opcode
    d = decode(word)
    assert d is not None
    assert d.instr is row
    for name, value in fields.items():
        assert getattr(d, name) == value
    assert encode(row.name, **{f: getattr(d, f) for f in fields}) == word


def test_every_instruction_that_retires_costs_a_cycle():
    """The run loop checks its instruction budget only when cycles reach ``next_event``'s bound.

    That bound is sound only if every instruction that lets the run go on costs at least one
    cycle (and a trap too); the two with no cost, BT-call and host breakpoint, always end the run.
    """
    from vmlab.core.decode import CYCLES, OP_BTCALL, OP_HOSTBP, OP_ILLEGAL
    from vmlab.isa.arch import TRAP_CYCLES

    for row in INSTRUCTIONS:
        assert CYCLES[row.opcode] >= 1, row.name
    assert CYCLES[OP_ILLEGAL] >= 1
    assert TRAP_CYCLES >= 1
    assert CYCLES[OP_BTCALL] == CYCLES[OP_HOSTBP] == 0


def test_status_bits_names_the_bits_that_are_set() -> None:
    from vmlab.isa import status_bits
    from vmlab.isa.arch import ST_IE, ST_MODE, ST_PG, ST_PIE, ST_PMODE

    assert status_bits(0) == "-"
    assert status_bits(ST_MODE | ST_PG) == "MODE PG"
    assert status_bits(ST_MODE | ST_IE | ST_PMODE | ST_PIE | ST_PG) == "MODE IE PMODE PIE PG"
    assert status_bits(1 << 31) == "-"  # bits that do not exist are not named
