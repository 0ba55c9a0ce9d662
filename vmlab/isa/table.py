"""The VL32 instruction table: the single source of truth for every instruction.

Each row names one machine instruction: mnemonic, opcode byte, encoding format, the assembly operand
syntax, its cost class, whether it is privileged, and a one-line meaning. The encoder, decoder,
assembler, disassembler, the core's opcode constants and ``docs/isa.md`` are all derived from it.

Encoding (32-bit little-endian words; bits[7:0] is always the opcode)::

    R   rd[11:8]  rs1[15:12] rs2[19:16]  bits[31:20] = 0
    I   rd[11:8]  rs1[15:12] imm16[31:16]
    S   rs2[11:8] rs1[15:12] imm16[31:16]          (rs2 is the value stored, rs1 the base)
    B   rs1[11:8] rs2[15:12] imm16[31:16]          (signed word offset: target = pc + 4*imm)
    U   rd[11:8]  bits[15:12] = 0  imm16[31:16]    (rd = imm16 << 16)
    J   rd[11:8]  imm20[31:12]                     (signed word offset: target = pc + 4*imm)
    N   bits[31:8] = 0                             (no operands)

Immediate kinds: ``simm`` is sign-extended, ``uimm`` zero-extended (andi, ori, xori, lui),
``shamt`` is 0..31, ``csr`` is a control/status register number, ``off`` a signed word offset.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BY_NAME",
    "BY_OPCODE",
    "CLASS_CYCLES",
    "FORMATS",
    "INSTRUCTIONS",
    "OPCODE",
    "Instr",
]

# Format name -> (fields in encoding order, immediate bit width or 0)
FORMATS: dict[str, tuple[tuple[str, ...], int]] = {
    "R": (("rd", "rs1", "rs2"), 0),
    "I": (("rd", "rs1", "imm"), 16),
    "S": (("rs2", "rs1", "imm"), 16),
    "B": (("rs1", "rs2", "imm"), 16),
    "U": (("rd", "imm"), 16),
    "J": (("rd", "imm"), 20),
    "N": ((), 0),
}

# Modelled cost of one instruction of each class, in cycles (guest time is counted in these).
CLASS_CYCLES: dict[str, int] = {
    "alu": 1,
    "mul": 3,
    "div": 20,
    "load": 2,
    "store": 2,
    "branch": 1,
    "jump": 2,
    "csr": 4,
    "system": 5,
    "idle": 1,
}


@dataclass(frozen=True)
class Instr:
    """One row of the instruction table."""

    name: str
    opcode: int
    fmt: str
    syntax: str  # assembly operands, e.g. "rd, rs1, imm" or "rd, imm(rs1)"
    imm: str  # "", "simm", "uimm", "shamt", "csr", "off"
    cls: str  # cost class, a key of CLASS_CYCLES
    privileged: bool
    meaning: str

    @property
    def cycles(self) -> int:
        """Modelled cycles this instruction costs."""
        return CLASS_CYCLES[self.cls]


def _rows() -> tuple[Instr, ...]:
    R, I, S, B, U, J, N = "R", "I", "S", "B", "U", "J", "N"
    rrr = "rd, rs1, rs2"
    rri = "rd, rs1, imm"
    rows = [
        # --- integer register-register -----------------------------------------------------
        ("add", 0x01, R, rrr, "", "alu", False, "rd = rs1 + rs2"),
        ("sub", 0x02, R, rrr, "", "alu", False, "rd = rs1 - rs2"),
        ("and", 0x03, R, rrr, "", "alu", False, "rd = rs1 & rs2"),
        ("or", 0x04, R, rrr, "", "alu", False, "rd = rs1 | rs2"),
        ("xor", 0x05, R, rrr, "", "alu", False, "rd = rs1 ^ rs2"),
        ("sll", 0x06, R, rrr, "", "alu", False, "rd = rs1 << (rs2 & 31)"),
        ("srl", 0x07, R, rrr, "", "alu", False, "rd = rs1 >> (rs2 & 31), logical"),
        ("sra", 0x08, R, rrr, "", "alu", False, "rd = rs1 >> (rs2 & 31), arithmetic"),
        ("slt", 0x09, R, rrr, "", "alu", False, "rd = 1 if rs1 < rs2 (signed) else 0"),
        ("sltu", 0x0A, R, rrr, "", "alu", False, "rd = 1 if rs1 < rs2 (unsigned) else 0"),
        ("mul", 0x0B, R, rrr, "", "mul", False, "rd = low 32 bits of rs1 * rs2"),
        ("mulh", 0x0C, R, rrr, "", "mul", False, "rd = high 32 bits of signed rs1 * rs2"),
        ("mulhu", 0x0D, R, rrr, "", "mul", False, "rd = high 32 bits of unsigned rs1 * rs2"),
        (
            "div",
            0x0E,
            R,
            rrr,
            "",
            "div",
            False,
            "rd = rs1 / rs2 signed, toward zero; x/0 = -1; INT_MIN/-1 = INT_MIN",
        ),
        ("divu", 0x0F, R, rrr, "", "div", False, "rd = rs1 / rs2 unsigned; x/0 = 0xFFFFFFFF"),
        (
            "rem",
            0x10,
            R,
            rrr,
            "",
            "div",
            False,
            "rd = rs1 % rs2 signed (sign of rs1); x%0 = x; INT_MIN%-1 = 0",
        ),
        ("remu", 0x11, R, rrr, "", "div", False, "rd = rs1 % rs2 unsigned; x%0 = x"),
        # --- integer register-immediate ----------------------------------------------------
        ("addi", 0x20, I, rri, "simm", "alu", False, "rd = rs1 + sext(imm16)"),
        ("andi", 0x21, I, rri, "uimm", "alu", False, "rd = rs1 & zext(imm16)"),
        ("ori", 0x22, I, rri, "uimm", "alu", False, "rd = rs1 | zext(imm16)"),
        ("xori", 0x23, I, rri, "uimm", "alu", False, "rd = rs1 ^ zext(imm16)"),
        ("slti", 0x24, I, rri, "simm", "alu", False, "rd = 1 if rs1 < sext(imm16) (signed)"),
        (
            "sltiu",
            0x25,
            I,
            rri,
            "simm",
            "alu",
            False,
            "rd = 1 if rs1 < sext(imm16) (unsigned compare)",
        ),
        ("slli", 0x26, I, rri, "shamt", "alu", False, "rd = rs1 << shamt"),
        ("srli", 0x27, I, rri, "shamt", "alu", False, "rd = rs1 >> shamt, logical"),
        ("srai", 0x28, I, rri, "shamt", "alu", False, "rd = rs1 >> shamt, arithmetic"),
        ("lui", 0x29, U, "rd, imm", "uimm", "alu", False, "rd = imm16 << 16"),
        # --- memory ------------------------------------------------------------------------
        ("lb", 0x30, I, "rd, imm(rs1)", "simm", "load", False, "rd = sext(mem8[rs1 + imm])"),
        ("lh", 0x31, I, "rd, imm(rs1)", "simm", "load", False, "rd = sext(mem16[rs1 + imm])"),
        ("lw", 0x32, I, "rd, imm(rs1)", "simm", "load", False, "rd = mem32[rs1 + imm]"),
        ("lbu", 0x33, I, "rd, imm(rs1)", "simm", "load", False, "rd = zext(mem8[rs1 + imm])"),
        ("lhu", 0x34, I, "rd, imm(rs1)", "simm", "load", False, "rd = zext(mem16[rs1 + imm])"),
        ("sb", 0x38, S, "rs2, imm(rs1)", "simm", "store", False, "mem8[rs1 + imm] = rs2"),
        ("sh", 0x39, S, "rs2, imm(rs1)", "simm", "store", False, "mem16[rs1 + imm] = rs2"),
        ("sw", 0x3A, S, "rs2, imm(rs1)", "simm", "store", False, "mem32[rs1 + imm] = rs2"),
        # --- control flow --------------------------------------------------------------------
        ("beq", 0x40, B, "rs1, rs2, imm", "off", "branch", False, "if rs1 == rs2: pc += 4*off"),
        ("bne", 0x41, B, "rs1, rs2, imm", "off", "branch", False, "if rs1 != rs2: pc += 4*off"),
        (
            "blt",
            0x42,
            B,
            "rs1, rs2, imm",
            "off",
            "branch",
            False,
            "if rs1 < rs2 (signed): pc += 4*off",
        ),
        (
            "bge",
            0x43,
            B,
            "rs1, rs2, imm",
            "off",
            "branch",
            False,
            "if rs1 >= rs2 (signed): pc += 4*off",
        ),
        (
            "bltu",
            0x44,
            B,
            "rs1, rs2, imm",
            "off",
            "branch",
            False,
            "if rs1 < rs2 (unsigned): pc += 4*off",
        ),
        (
            "bgeu",
            0x45,
            B,
            "rs1, rs2, imm",
            "off",
            "branch",
            False,
            "if rs1 >= rs2 (unsigned): pc += 4*off",
        ),
        ("jal", 0x48, J, "rd, imm", "off", "jump", False, "rd = pc + 4; pc += 4*off"),
        (
            "jalr",
            0x49,
            I,
            "rd, imm(rs1)",
            "simm",
            "jump",
            False,
            "rd = pc + 4; pc = rs1 + imm (must be 4-aligned)",
        ),
        # --- system ----------------------------------------------------------------------------
        ("syscall", 0x50, N, "", "", "system", False, "trap to the kernel with cause SYSCALL"),
        ("break", 0x51, N, "", "", "system", False, "trap to the kernel with cause BREAKPOINT"),
        (
            "hcall",
            0x52,
            N,
            "",
            "",
            "system",
            False,
            "hypercall: exit to the hypervisor (a0 = call number); illegal on bare metal",
        ),
        (
            "eret",
            0x58,
            N,
            "",
            "",
            "system",
            True,
            "return from trap: pc = epc, mode = pmode, ie = pie",
        ),
        ("wfi", 0x59, N, "", "", "idle", True, "wait for an interrupt (idle)"),
        ("halt", 0x5A, N, "", "", "system", True, "stop the machine; exit code = a0"),
        ("tlbflush", 0x5B, N, "", "", "system", True, "invalidate every TLB entry"),
        ("csrr", 0x60, I, "rd, csr", "csr", "csr", True, "rd = csr"),
        ("csrw", 0x61, I, "csr, rs1", "csr", "csr", True, "csr = rs1"),
        ("csrrw", 0x62, I, "rd, csr, rs1", "csr", "csr", True, "rd = csr; csr = rs1 (atomic)"),
        ("csrs", 0x63, I, "csr, rs1", "csr", "csr", True, "csr |= rs1"),
        ("csrc", 0x64, I, "csr, rs1", "csr", "csr", True, "csr &= ~rs1"),
    ]
    return tuple(Instr(*row) for row in rows)


INSTRUCTIONS: tuple[Instr, ...] = _rows()
BY_NAME: dict[str, Instr] = {row.name: row for row in INSTRUCTIONS}
BY_OPCODE: dict[int, Instr] = {row.opcode: row for row in INSTRUCTIONS}
OPCODE: dict[str, int] = {row.name: row.opcode for row in INSTRUCTIONS}

assert len(BY_NAME) == len(INSTRUCTIONS) == len(BY_OPCODE), "duplicate mnemonic or opcode"
assert all(0 < row.opcode < 0xF0 for row in INSTRUCTIONS), "opcodes 0x00 and 0xF0+ are reserved"
