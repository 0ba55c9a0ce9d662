"""The VL32 instruction set: one table of instructions plus the architectural constants."""

from .arch import CSR_NAMES, CSR_NUMBERS, REG_ALIASES, REG_NAMES, STATUS_BITS, status_bits
from .encoding import Decoded, decode, encode
from .table import BY_NAME, BY_OPCODE, CLASS_CYCLES, FORMATS, INSTRUCTIONS, OPCODE, Instr

__all__ = [
    "BY_NAME",
    "BY_OPCODE",
    "CLASS_CYCLES",
    "CSR_NAMES",
    "CSR_NUMBERS",
    "FORMATS",
    "INSTRUCTIONS",
    "OPCODE",
    "REG_ALIASES",
    "REG_NAMES",
    "STATUS_BITS",
    "Decoded",
    "Instr",
    "decode",
    "encode",
    "status_bits",
]
