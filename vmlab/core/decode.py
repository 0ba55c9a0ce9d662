"""The core's instruction decoder: one VL32 word -> one packed int64, built from the instruction table.

Packed form (what the decode cache holds; 0 means "not decoded yet")::

    op | rd << 8 | rs1 << 16 | rs2 << 24 | imm << 32

``imm`` is ready to use: sign- or zero-extended, ``lui`` pre-shifted, branch/jump offsets already in
bytes. A write to r0 is redirected to the scratch register 16 so the run loop never tests rd.
Every load decodes to ``lw``'s opcode with its kind (size, extension) in the rs2 slot, every store
to ``sw``'s with its kind in the rd slot, so the run loop has one case for each.
Words that are not canonical encodings decode to ``OP_ILLEGAL``; words at a host breakpoint decode
to ``OP_HOSTBP``. Both are non-zero, so every cached entry is non-zero.
"""

from __future__ import annotations

import re

import numpy as np

from .._jit import kernel
from ..isa.arch import CSR_NAMES
from ..isa.table import CLASS_CYCLES, INSTRUCTIONS, OPCODE
from .layout import ST_BP, ST_NBP, ST_SKIP_BP

OP_BTCALL = 0xFD  # not an encoding: a binary translator replaced a sensitive instruction here
OP_HOSTBP = 0xFE  # not an encoding: a host (debugger) breakpoint sits on this word
OP_ILLEGAL = 0xFF  # not an encoding: the word is not a valid instruction
SCRATCH_REG = 16  # writes to r0 land here

FMT_CODES = {"R": 1, "I": 2, "S": 3, "B": 4, "U": 5, "J": 6, "N": 7}
IMM_CODES = {"": 0, "simm": 1, "uimm": 2, "shamt": 3, "csr": 4, "off": 5}
# bit positions of each field, by format
_FIELD_BITS = {
    "R": {"rd": 8, "rs1": 12, "rs2": 16},
    "I": {"rd": 8, "rs1": 12, "imm": 16},
    "S": {"rs2": 8, "rs1": 12, "imm": 16},
    "B": {"rs1": 8, "rs2": 12, "imm": 16},
    "U": {"rd": 8, "imm": 16},
    "J": {"rd": 8, "imm": 12},
    "N": {},
}


def _syntax_fields(syntax: str) -> set[str]:
    """Encoding fields named by an operand syntax string (``csr`` is stored in ``imm``)."""
    names = set(re.findall(r"[a-z0-9]+", syntax))
    return {"imm" if name == "csr" else name for name in names}


def _must_be_zero(fmt: str, syntax: str) -> int:
    """Mask of the bits of a word that a canonical encoding leaves zero."""
    used = 0xFF
    named = _syntax_fields(syntax)
    for field, low in _FIELD_BITS[fmt].items():
        if field in named:
            width = 32 - low if field == "imm" else 4
            used |= ((1 << width) - 1) << low
    return 0xFFFFFFFF & ~used


FMT = np.zeros(256, dtype=np.int64)
IMMK = np.zeros(256, dtype=np.int64)
ZERO_MASK = np.zeros(256, dtype=np.int64)
CYCLES = np.zeros(256, dtype=np.int64)
for _row in INSTRUCTIONS:
    FMT[_row.opcode] = FMT_CODES[_row.fmt]
    IMMK[_row.opcode] = IMM_CODES[_row.imm]
    ZERO_MASK[_row.opcode] = _must_be_zero(_row.fmt, _row.syntax)
    CYCLES[_row.opcode] = CLASS_CYCLES[_row.cls]
CYCLES[OP_ILLEGAL] = 1
# loads and stores share one run-loop case each; the kind says size and extension
KIND_W, KIND_B, KIND_H, KIND_BU, KIND_HU = 0, 1, 2, 3, 4
OP_LW = OPCODE["lw"]
OP_SW = OPCODE["sw"]
LOAD_KIND = np.full(256, -1, dtype=np.int64)
STORE_KIND = np.full(256, -1, dtype=np.int64)
for _name, _kind in (
    ("lw", KIND_W),
    ("lb", KIND_B),
    ("lh", KIND_H),
    ("lbu", KIND_BU),
    ("lhu", KIND_HU),
):
    LOAD_KIND[OPCODE[_name]] = _kind
for _name, _kind in (("sw", KIND_W), ("sb", KIND_B), ("sh", KIND_H)):
    STORE_KIND[OPCODE[_name]] = _kind
CSR_VALID = np.zeros(16, dtype=np.int64)
for _num in CSR_NAMES:
    CSR_VALID[_num] = 1


@kernel
def decode(word: int, pa: int, st: np.ndarray) -> int:
    """Decode one instruction word fetched from physical address ``pa`` into its packed form."""
    n = st[ST_NBP]
    for i in range(n):
        if st[ST_BP + i] == pa and st[ST_SKIP_BP] != pa:
            return OP_HOSTBP
    op = word & 0xFF
    fmt = FMT[op]
    if fmt == 0 or (word & ZERO_MASK[op]) != 0:
        return OP_ILLEGAL
    f1 = (word >> 8) & 0xF
    f2 = (word >> 12) & 0xF
    f3 = (word >> 16) & 0xF
    rd = 0
    rs1 = 0
    rs2 = 0
    imm = 0
    if fmt == 1:  # R
        rd, rs1, rs2 = f1, f2, f3
    elif fmt == 2:  # I
        rd, rs1 = f1, f2
        imm = (word >> 16) & 0xFFFF
    elif fmt == 3:  # S
        rs2, rs1 = f1, f2
        imm = (word >> 16) & 0xFFFF
    elif fmt == 4:  # B
        rs1, rs2 = f1, f2
        imm = (word >> 16) & 0xFFFF
    elif fmt == 5:  # U
        rd = f1
        imm = (word >> 16) & 0xFFFF
    elif fmt == 6:  # J
        rd = f1
        imm = (word >> 12) & 0xFFFFF
        imm = (imm - ((imm & 0x80000) << 1)) * 4
    kind = IMMK[op]
    if fmt != 6:
        if kind == 1:  # simm: sign-extend 16 bits
            imm = imm - ((imm & 0x8000) << 1)
        elif kind == 3:  # shamt
            if imm > 31:
                return OP_ILLEGAL
        elif kind == 4:  # csr number
            if imm > 15 or CSR_VALID[imm] == 0:
                return OP_ILLEGAL
        elif kind == 5:  # branch offset in words -> bytes
            imm = (imm - ((imm & 0x8000) << 1)) * 4
        elif kind == 2 and fmt == 5:  # lui: upper half, kept as a signed 32-bit value
            imm = (imm << 16) - ((imm & 0x8000) << 17)
    if rd == 0:
        rd = SCRATCH_REG
    if LOAD_KIND[op] >= 0:  # every load runs as OP_LW with its kind in the rs2 slot
        rs2 = LOAD_KIND[op]
        op = OP_LW
    elif STORE_KIND[op] >= 0:  # every store runs as OP_SW with its kind in the rd slot
        rd = STORE_KIND[op]
        op = OP_SW
    return op | (rd << 8) | (rs1 << 16) | (rs2 << 24) | (imm << 32)
