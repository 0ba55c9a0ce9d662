"""The VL32 assembler and disassembler (the language is specified in docs/assembly.md)."""

from .assembler import AssembleError, Diagnostic, assemble, assemble_file
from .disasm import disassemble, disassemble_word

__all__ = [
    "AssembleError",
    "Diagnostic",
    "assemble",
    "assemble_file",
    "disassemble",
    "disassemble_word",
]
