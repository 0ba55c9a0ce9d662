"""Encode and decode VL32 instruction words, derived entirely from the instruction table.

Field positions follow the formats in :mod:`vmlab.isa.table`: register fields sit at bits 8, 12 and
16 in the order the format lists them, the immediate fills the top ``width`` bits of the word.
A word is *canonical* when its opcode is known, every bit outside the row's named fields is zero,
and its immediate is valid for the row's immediate kind. :func:`decode` accepts exactly the
canonical words and :func:`encode` produces only canonical words.

>>> hex(encode("addi", rd=4, imm=5))
'0x50420'
>>> decode(0x50420).instr.name
'addi'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ..checks import as_int
from .arch import CSR_NAMES, NUM_REGS
from .table import BY_NAME, BY_OPCODE, FORMATS, Instr

__all__ = ["Decoded", "decode", "encode", "imm_range", "operands", "reg_fields", "word_value"]

_REG_FIELDS = ("rd", "rs1", "rs2")


def operands(instr: Instr) -> tuple[str, ...]:
    """The assembly operands of a row in order, e.g. ``("rd", "imm(rs1)")``."""
    return tuple(part.strip() for part in instr.syntax.split(",")) if instr.syntax else ()


@cache
def _named_fields(instr: Instr) -> frozenset[str]:
    """Encoding fields that the row's syntax names (``csr`` lives in the ``imm`` field)."""
    names = set(re.findall(r"[a-z0-9]+", instr.syntax))
    return frozenset("imm" if name == "csr" else name for name in names)


def reg_fields(instr: Instr) -> tuple[str, ...]:
    """Register fields of the row's format that its syntax uses."""
    return tuple(f for f in FORMATS[instr.fmt][0] if f in _REG_FIELDS and f in _named_fields(instr))


@cache
def _layout(instr: Instr) -> tuple[dict[str, int], int, int]:
    """(field -> low bit, immediate width or 0, mask of the bits a canonical word may set)."""
    fields, width = FORMATS[instr.fmt]
    named = _named_fields(instr)
    pos: dict[str, int] = {}
    used = 0xFF
    for index, field in enumerate(fields):
        if field == "imm":
            pos[field] = 32 - width
            if field in named:
                used |= ((1 << width) - 1) << (32 - width)
        else:
            pos[field] = 8 + 4 * index
            if field in named:
                used |= 0xF << (8 + 4 * index)
    return pos, width if "imm" in fields else 0, used


def imm_range(instr: Instr) -> tuple[int, int]:
    """Inclusive (min, max) of the row's immediate field value; (0, 0) if it has none."""
    _, width, _ = _layout(instr)
    kind = instr.imm
    if kind in ("simm", "off"):
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    if kind == "uimm":
        return 0, (1 << width) - 1
    if kind == "shamt":
        return 0, 31
    if kind == "csr":
        return min(CSR_NAMES), max(CSR_NAMES)
    return 0, 0


def encode(name: str, rd: int = 0, rs1: int = 0, rs2: int = 0, imm: int = 0) -> int:
    """Encode one instruction into its 32-bit word; raise ValueError for any invalid field.

    ``imm`` is the field value: the signed word offset for branches and ``jal``, the upper 16 bits
    for ``lui``, the CSR number for ``csr*``.

    >>> hex(encode("beq", rs1=4, rs2=0, imm=-1))
    '0xffff0440'
    """
    try:
        instr = BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown instruction {name!r}") from None
    pos, width, _ = _layout(instr)
    named = _named_fields(instr)
    word = instr.opcode
    for field, value in (("rd", rd), ("rs1", rs1), ("rs2", rs2)):
        if field not in named:
            if value != 0:
                raise ValueError(f"{name} has no {field} operand (got {value})")
            continue
        if not 0 <= value < NUM_REGS:
            raise ValueError(f"{name}: {field} must be a register number 0..15, got {value}")
        word |= value << pos[field]
    if "imm" not in named:
        if imm != 0:
            raise ValueError(f"{name} has no immediate operand (got {imm})")
        return word
    lo, hi = imm_range(instr)
    if instr.imm == "csr":
        if imm not in CSR_NAMES:
            raise ValueError(f"{name}: unknown CSR number {imm}")
    elif not lo <= imm <= hi:
        raise ValueError(f"{name}: immediate {imm} out of range {lo}..{hi}")
    return word | ((imm & ((1 << width) - 1)) << pos["imm"])


@dataclass(frozen=True)
class Decoded:
    """One decoded instruction: its table row and field values (``imm`` already sign-extended)."""

    instr: Instr
    rd: int
    rs1: int
    rs2: int
    imm: int
    word: int

    @property
    def name(self) -> str:
        """The mnemonic."""
        return self.instr.name

    def target(self, pc: int) -> int:
        """Branch/jump target address (32-bit wrapped) of this instruction at ``pc``."""
        return (pc + 4 * self.imm) & 0xFFFFFFFF


def word_value(word: object, what: str = "an instruction word") -> int:
    """``word`` as a Python int in 0..2**32-1 (numpy integers too); TypeError or ValueError.

    >>> word_value(0x5A)
    90
    """
    value = as_int(word, what)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} {value} is not a 32-bit word (0..0xffffffff)")
    return value


def decode(word: int) -> Decoded | None:
    """Decode a 32-bit word; None unless it is a canonical encoding of some instruction.

    >>> decode(0x50420).imm, decode(0xFFFFFFFF) is None
    (5, True)
    """
    word = word_value(word)
    instr = BY_OPCODE.get(word & 0xFF)
    if instr is None:
        return None
    pos, width, used = _layout(instr)
    if word & ~used:
        return None
    regs = {f: (word >> pos[f]) & 0xF if f in pos else 0 for f in _REG_FIELDS}
    imm = 0
    if width:
        imm = (word >> pos["imm"]) & ((1 << width) - 1)
        if instr.imm in ("simm", "off") and imm >= 1 << (width - 1):
            imm -= 1 << width
        elif instr.imm == "shamt" and imm > 31:
            return None
        elif instr.imm == "csr" and imm not in CSR_NAMES:
            return None
    return Decoded(instr, regs["rd"], regs["rs1"], regs["rs2"], imm, word)
