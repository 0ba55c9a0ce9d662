"""The VL32 disassembler: words back to assembly text that re-assembles to the same words.

Operands print in the table's syntax: ABI register names, CSR names, signed decimal immediates
(hex for the zero-extended ``andi``/``ori``/``xori``/``lui``), and branch/jump targets as absolute
hex addresses, so ``.org pc`` followed by :func:`disassemble_word` output gives the word back.

>>> disassemble_word(0x00050420)
'addi a0, zero, 5'
>>> disassemble_word(0xFFFF0440, pc=0x1000)
'beq a0, zero, 0x00000ffc'
"""

from __future__ import annotations

from ..checks import ADDR_LIMIT, as_address, as_int
from ..image import Image, Segment
from ..isa.arch import CSR_NAMES, REG_NAMES
from ..isa.encoding import Decoded, decode, operands, word_value

__all__ = ["disassemble", "disassemble_word"]


def _operand(kind: str, d: Decoded, pc: int) -> str:
    """Text of one operand of a decoded instruction."""
    if kind in ("rd", "rs1", "rs2"):
        return REG_NAMES[getattr(d, kind)]
    if kind == "csr":
        return CSR_NAMES[d.imm]
    if kind == "imm(rs1)":
        return f"{d.imm}({REG_NAMES[d.rs1]})"
    if d.instr.imm == "off":
        return f"0x{d.target(pc):08x}"
    if d.instr.imm == "uimm":
        return f"0x{d.imm:x}"
    return str(d.imm)


def disassemble_word(word: int, pc: int = 0) -> str:
    """Assembly text for one word at address ``pc``; ``.word 0x........`` if it is not canonical.

    ``word`` is an int 0..0xFFFFFFFF (a numpy integer read from memory will do).

    >>> disassemble_word(0xFFFFFFFF)
    '.word 0xffffffff'
    """
    word = word_value(word, "disassemble_word: the word")
    pc = as_address(pc, "disassemble_word: pc")
    d = decode(word)
    if d is None:
        return f".word 0x{word:08x}"
    ops = ", ".join(_operand(kind, d, pc) for kind in operands(d.instr))
    return f"{d.name} {ops}" if ops else d.name


def disassemble(
    image_or_bytes: Image | bytes | bytearray | memoryview,
    addr: int | None = None,
    count: int | None = None,
) -> list[str]:
    """Disassembly listing lines: ``0x00001000: 20 04 05 00  addi a0, zero, 5``.

    For an :class:`Image`, ``addr`` is where to start (default: every segment) and labels and
    ``# file:line`` from the source map are shown. Raw bytes (any bytes-like object: bytes,
    bytearray, memoryview, a numpy array) are taken to start at ``addr`` (default 0). ``count``
    (an int >= 0, default all) limits the number of instruction lines. Bytes are shown in memory
    order. A bad argument is a TypeError or ValueError naming it.

    >>> disassemble(bytes.fromhex("20040500 5a000000"), 0x1000)
    ['0x00001000: 20 04 05 00  addi a0, zero, 5', '0x00001004: 5a 00 00 00  halt']
    """
    if addr is not None:
        addr = as_address(addr, "disassemble: addr")
    if count is not None:
        count = as_int(count, "disassemble: count")
        if count < 0:
            raise ValueError(f"disassemble: count must be >= 0 (or None for all), not {count}")
    if isinstance(image_or_bytes, Image):
        image = image_or_bytes
    else:
        data = _raw_bytes(image_or_bytes)
        start = addr or 0
        if start + len(data) > ADDR_LIMIT:
            raise ValueError(
                f"disassemble: {len(data)} bytes at 0x{start:08x} run past the end of the "
                "32-bit address space"
            )
        image = Image([Segment(start, data)])
    labels: dict[int, list[str]] = {}
    for name, value in sorted(image.labels.items()):
        labels.setdefault(value, []).append(name)
    segments = image.segments
    if addr is not None:
        for seg in segments:
            if seg.addr <= addr < seg.end:
                later = [s for s in segments if s.addr > seg.addr]
                segments = (Segment(addr, seg.data[addr - seg.addr :]), *later)
                break
        else:
            raise ValueError(f"no segment of the image contains address 0x{addr:08x}")
    lines: list[str] = []
    left = count if count is not None else -1  # -1: no limit
    for seg in segments:
        for off in range(0, len(seg.data), 4):
            if left == 0:
                return lines
            left -= 1
            pc = seg.addr + off
            chunk = seg.data[off : off + 4]
            lines.extend(f"{name}:" for name in labels.get(pc, ()))
            raw = " ".join(f"{b:02x}" for b in chunk)
            if len(chunk) == 4:
                text = disassemble_word(int.from_bytes(chunk, "little"), pc)
            else:
                text = ".byte " + ", ".join(f"0x{b:02x}" for b in chunk)
            line = f"0x{pc:08x}: {raw:<11}  {text}"
            if pc in image.source_map:
                file, number = image.source_map[pc]
                line = f"{line:<56}# {file}:{number}"
            lines.append(line)
    return lines


def _raw_bytes(data: object) -> bytes:
    """The bytes of a bytes-like object; TypeError saying what disassemble takes otherwise."""
    if not isinstance(data, str):
        try:
            return memoryview(data).tobytes()  # type: ignore[arg-type]
        except TypeError:
            pass
    raise TypeError(
        "disassemble needs an Image or bytes-like data (bytes, bytearray, memoryview, "
        f"numpy array), not {type(data).__name__}"
    )
