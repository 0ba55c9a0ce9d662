"""The VL32 two-pass assembler: source text -> :class:`vmlab.image.Image` (spec: docs/assembly.md).

Pass 1 reads every line (following ``.include`` and ``.if``), defines labels, decides the size of
every statement and records it as an item at a (block, offset). Between the passes the ``.data``
block is placed after ``.text``, pending ``.equ`` values are resolved and overlapping output is
reported. Pass 2 evaluates every operand with the complete symbol table and encodes the bytes.
Real instructions come from the instruction table; only pseudo-instructions are listed here.

>>> img = assemble("_start: li a0, 5\\n halt\\n")
>>> hex(img.entry), hex(img.word_at(0x1000))
('0x1000', '0x50420')
"""

from __future__ import annotations

import difflib
import operator
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..devices.memmap import DEFAULT_ORIGIN
from ..files import file_name, read_bytes
from ..image import Image, Segment
from ..isa.arch import CSR_NAMES, CSR_NUMBERS, PAGE_SIZE, REG_ALIASES
from ..isa.encoding import encode, imm_range, operands
from ..isa.table import BY_NAME, Instr
from .expr import IDENT, ExprError, Node, Token, UnknownSymbolError, evaluate, parse_expr, tokenize

__all__ = ["AssembleError", "Diagnostic", "assemble", "assemble_file"]

MAX_ERRORS_PER_FILE = 100
MAX_INCLUDE_DEPTH = 32  # .include inside .include ...: deeper is refused (a runaway chain)
MAX_SPACE = 64 * 1024 * 1024  # largest single .space (bytes)
ADDR_LIMIT = 1 << 32
WORD_MIN, WORD_MAX = -(1 << 31), (1 << 32) - 1
SYMBOL_MIN, SYMBOL_MAX = -(1 << 63), (1 << 63) - 1  # an image stores symbol values in 64 bits
MAX_NAME = 0xFFFF  # longest symbol name an image can store (bytes)


# --- diagnostics --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Diagnostic:
    """One assembly error at a source position (line and column are 1-based)."""

    file: str
    line: int
    column: int
    message: str
    source_line: str
    length: int = 1  # how many characters the caret line underlines

    def __str__(self) -> str:
        """``file:line:col: error: msg``, then the source line and a caret line under the error."""
        head = f"{self.file}:{self.line}:{self.column}: error: {self.message}"
        if not self.source_line:
            return head
        text = self.source_line.expandtabs(8)
        indent = len(self.source_line[: max(self.column - 1, 0)].expandtabs(8))
        return f"{head}\n{text}\n{' ' * indent}^{'~' * (max(self.length, 1) - 1)}"


class AssembleError(Exception):
    """Assembly failed; ``diagnostics`` lists every error found (up to 100 per file)."""

    def __init__(self, diagnostics: list[Diagnostic], suppressed: int = 0) -> None:
        self.diagnostics = list(diagnostics)
        self.suppressed = suppressed
        text = "\n".join(str(d) for d in self.diagnostics)
        if suppressed:
            text += f"\n({suppressed} more errors not shown: limit {MAX_ERRORS_PER_FILE} per file)"
        super().__init__(text)


@dataclass(frozen=True)
class _Loc:
    """Where a statement came from."""

    file: str
    line: int
    text: str


class _Circular(Exception):  # noqa: N818 (internal control flow, not an error type)
    """Internal: the pending symbol ``name`` depends on itself."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _LineError(Exception):
    """Internal: an error at columns [col, end) of the current line."""

    def __init__(self, message: str, col: int, end: int) -> None:
        super().__init__(message)
        self.message, self.col, self.end = message, col, end


# --- pass-1 records -----------------------------------------------------------------------------
@dataclass(eq=False)
class _Block:
    """A run of contiguous output starting at an ``.org`` (or a section's start)."""

    section: str
    start: int | None  # None: the .data block placed after .text between the passes
    loc: _Loc | None
    size: int = 0
    data: bytearray = field(default_factory=bytearray)


@dataclass(eq=False)
class _Label:
    """A label: an offset into a block."""

    block: _Block
    offset: int


@dataclass(eq=False)
class _Pending:
    """An ``.equ`` whose value was not known when its line was reached."""

    node: Node
    block: _Block
    offset: int
    loc: _Loc
    busy: bool = False


@dataclass
class _Word:
    """One machine word to encode in pass 2; ``imm`` is an expression interpreted by ``mode``."""

    instr: Instr
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    imm: Node | None = None
    mode: str = "value"  # "value", "target" (branch/jal), "hi"/"lo" (li, la)
    what: str = ""  # pseudo-instruction name for messages


@dataclass
class _Item:
    """A statement's output: instruction words, data values, raw bytes or a fill."""

    loc: _Loc
    block: _Block
    offset: int
    size: int
    words: list[_Word] | None = None
    values: list[Node] | None = None  # .word/.half/.byte values
    width: int = 0
    raw: bytes = b""
    fill: Node | None = None  # .space fill byte


@dataclass
class _Cond:
    """One level of ``.if`` nesting."""

    active: bool
    done: bool
    parent_active: bool
    loc: _Loc
    col: int
    else_seen: bool = False


def _zero() -> Node:
    """An expression node for the constant 0."""
    return Node("num", 0, (), 0, 0)


def _const(value: int) -> Node:
    """An expression node for a constant."""
    return Node("num", value, (), 0, 0)


def _split(tokens: list[Token]) -> list[list[Token]]:
    """Split operand tokens at top-level commas; an empty operand is an error at its comma."""
    parts: list[list[Token]] = [[]]
    depth = 0
    comma: Token | None = None
    for tok in tokens:
        if tok.kind == "op" and tok.text == "(":
            depth += 1
        elif tok.kind == "op" and tok.text == ")":
            depth -= 1
        if tok.kind == "op" and tok.text == "," and depth == 0:
            if not parts[-1]:
                raise _LineError("missing operand before ','", tok.col, tok.end)
            parts.append([])
            comma = tok
        else:
            parts[-1].append(tok)
    if comma is not None and not parts[-1]:
        raise _LineError("missing operand after ','", comma.col, comma.end)
    return parts


def _span(tokens: list[Token]) -> tuple[int, int]:
    """Columns covered by a token list."""
    return tokens[0].col, tokens[-1].end


# --- the assembler ------------------------------------------------------------------------------
class _Assembler:
    """State of one assembly run."""

    def __init__(self, defines: dict[str, int], include_dirs: list[Path]):
        self.include_dirs = include_dirs
        self.symbols: dict[str, int | _Label | _Pending] = {}
        self.defined_at: dict[str, _Loc | None] = {}
        self.diagnostics: list[Diagnostic] = []
        self.errors_in: dict[str, int] = {}
        self.suppressed = 0
        self.seen: set[tuple[str, int, int, str]] = set()
        self.file_order: dict[str, int] = {}
        self.items: list[_Item] = []
        self.blocks: list[_Block] = []
        self.current: dict[str, _Block] = {
            "text": self._new_block("text", DEFAULT_ORIGIN, None),
            "data": self._new_block("data", None, None),
        }
        self.section = "text"
        self.entry: tuple[Node, _Loc] | None = None
        self.stack: list[Path] = []
        self.conds: list[_Cond] = []
        self.loc = _Loc("<input>", 0, "")
        self.pass1_done = False  # set once pass 1 is over: unknown symbols are then errors
        self.parameters: dict[str, _Loc] = {}  # names given to .default, where first seen
        self.used_defines: set[str] = set()  # defines that a .default names or an expression reads
        for name, value in defines.items():
            self.symbols[name] = value
            self.defined_at[name] = None

    # --- errors ---------------------------------------------------------------------------
    def error(self, message: str, col: int = 0, end: int = 0, loc: _Loc | None = None) -> None:
        """Record an error at columns [col, end) of ``loc`` (default: the current line)."""
        loc = loc or self.loc
        key = (loc.file, loc.line, col, message)
        if key in self.seen:
            return
        self.seen.add(key)
        count = self.errors_in.get(loc.file, 0)
        self.errors_in[loc.file] = count + 1
        if count >= MAX_ERRORS_PER_FILE:
            self.suppressed += 1
            return
        self.diagnostics.append(
            Diagnostic(loc.file, loc.line, col + 1, message, loc.text, max(end - col, 1))
        )

    # --- blocks and addresses -------------------------------------------------------------
    def _new_block(self, section: str, start: int | None, loc: _Loc | None) -> _Block:
        """Start a new output block."""
        block = _Block(section, start, loc)
        self.blocks.append(block)
        return block

    @staticmethod
    def addr(block: _Block, offset: int) -> int | None:
        """Absolute address of an offset into a block, None while the block is unplaced."""
        return None if block.start is None else block.start + offset

    def here(self) -> int | None:
        """The current address (``.``) in pass 1, None if not known yet."""
        block = self.current[self.section]
        return self.addr(block, block.size)

    def emit(self, item_size: int, **kw: object) -> _Item:
        """Append an item of ``item_size`` bytes at the current position."""
        block = self.current[self.section]
        item = _Item(self.loc, block, block.size, item_size, **kw)  # type: ignore[arg-type]
        block.size += item_size
        end = None if block.start is None else block.start + block.size
        if end is not None and end > ADDR_LIMIT >= end - item_size:
            self.error("output runs past the end of the 32-bit address space")
        self.items.append(item)
        return item

    # --- symbols --------------------------------------------------------------------------
    def lookup(self, name: str) -> int | None:
        """Value of a symbol that the source refers to, None if it is not known (yet)."""
        if name in self.symbols and self.defined_at.get(name, ...) is None:
            self.used_defines.add(name)
        return self.value(name)

    def value(self, name: str) -> int | None:
        """Value of a symbol, None if it is not known (yet)."""
        entry = self.symbols.get(name)
        if entry is None or isinstance(entry, int):
            return entry
        if isinstance(entry, _Label):
            return self.addr(entry.block, entry.offset)
        return self.pending_value(name, entry)

    def pending_value(self, name: str, entry: _Pending) -> int | None:
        """Evaluate a pending ``.equ``; its own errors are reported at its line (value 0).

        Before the passes finish (``self.pass1_done`` false) an unknown symbol just leaves it pending.
        """
        if entry.busy:
            raise _Circular(name)
        entry.busy = True
        try:
            value = evaluate(entry.node, self.lookup, self.addr(entry.block, entry.offset))
        except UnknownSymbolError as exc:
            if not self.pass1_done:
                return None
            self.error(self.undefined_message(exc.name), exc.col, exc.end, entry.loc)
            value = 0
        except ExprError as exc:
            self.error(exc.message, exc.col, exc.end, entry.loc)
            value = 0
        except _Circular as exc:
            if exc.name != name:
                raise
            node = entry.node
            self.error(f"circular definition of '{name}'", node.col, node.end, entry.loc)
            value = 0
        finally:
            entry.busy = False
        self.symbols[name] = value
        return value

    def define(self, tok: Token, value: int | _Label | _Pending) -> None:
        """Define a new symbol named by ``tok``; error if it exists or is a register name."""
        name = tok.text
        if name == "." or name.lower() in REG_ALIASES:
            raise _LineError(
                f"'{name}' is a reserved name and cannot be a symbol", tok.col, tok.end
            )
        if len(name) > MAX_NAME:
            raise _LineError(
                f"symbol name of {len(name)} characters is too long (at most {MAX_NAME})",
                tok.col,
                tok.end,
            )
        if name in self.symbols:
            where = self.defined_at[name]
            first = f"{where.file}:{where.line}" if where else "the defines"
            raise _LineError(
                f"duplicate symbol '{name}' (first defined at {first})", tok.col, tok.end
            )
        self.symbols[name] = value
        self.defined_at[name] = self.loc

    def known(self, node: Node, what: str) -> int:
        """Evaluate in pass 1 an expression whose value must be known when its line is reached."""
        try:
            return evaluate(node, self.lookup, self.here())
        except UnknownSymbolError as exc:
            raise _LineError(
                f"{self.undefined_message(exc.name)} ({what} needs a value known at this point)",
                exc.col,
                exc.end,
            ) from None
        except ExprError as exc:
            raise _LineError(exc.message, exc.col, exc.end) from None

    def undefined_message(self, name: str) -> str:
        """'undefined symbol' message with close matches."""
        if name == ".":
            return "the address '.' is not known yet"
        names = [str(k) for k in self.symbols if k != name]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return f"undefined symbol '{name}'{hint}"

    # --- pass 1: files and lines ----------------------------------------------------------
    def run_file(self, text: str, filename: str, path: Path | None) -> None:
        """Assemble (pass 1) the lines of one file (a leading byte-order mark is skipped)."""
        text = text.removeprefix("\ufeff")
        if path is not None:
            self.stack.append(path)
        self.file_order.setdefault(filename, len(self.file_order))
        saved_conds, self.conds = self.conds, []
        for number, line in enumerate(text.splitlines(), start=1):
            self.loc = _Loc(filename, number, line)
            try:
                self.line(line)
            except _LineError as exc:
                self.error(exc.message, exc.col, exc.end)
        for cond in self.conds:
            self.error("'.if' without a matching '.endif'", cond.col, cond.col + 3, cond.loc)
        self.conds = saved_conds
        if path is not None:
            self.stack.pop()

    def active(self) -> bool:
        """Whether lines are currently assembled (not skipped by ``.if``)."""
        return not self.conds or self.conds[-1].active

    def line(self, line: str) -> None:
        """Pass 1 of one source line."""
        if not self.active():
            try:
                tokens = tokenize(line)
            except ExprError:
                return
            while len(tokens) >= 2 and tokens[0].kind == "id" and tokens[1].text == ":":
                tokens = tokens[2:]
            if tokens and tokens[0].text.lower() in (".if", ".elif", ".else", ".endif"):
                self.statement(tokens)
            return
        try:
            tokens = tokenize(line)
        except ExprError as exc:
            raise _LineError(exc.message, exc.col, exc.end) from None
        while len(tokens) >= 2 and tokens[0].kind == "id" and tokens[1].text == ":":
            if tokens[0].text == ".":
                raise _LineError("'.' cannot be a label", tokens[0].col, tokens[0].end)
            block = self.current[self.section]
            self.define(tokens[0], _Label(block, block.size))
            tokens = tokens[2:]
        if tokens:
            self.statement(tokens)

    def statement(self, tokens: list[Token]) -> None:
        """One directive, instruction or ``NAME = e`` after the labels of a line."""
        head = tokens[0]
        if head.kind != "id":
            raise _LineError(
                f"expected an instruction or directive, got '{head.text}'", head.col, head.end
            )
        if len(tokens) >= 2 and tokens[1].text == "=":
            self.define_equ(head, tokens[2:], tokens[1])
            return
        rest = tokens[1:]
        ops = _split(rest) if rest else []
        name = head.text.lower()
        if name.startswith(".") and name != ".":
            handler = _DIRECTIVES.get(name)
            if handler is None:
                raise _LineError(f"unknown directive '{head.text}'", head.col, head.end)
            handler(self, head, ops)
        else:
            self.instruction(head, ops)

    # --- operands ------------------------------------------------------------------------
    @staticmethod
    def reg(op: list[Token], what: str) -> int:
        """A register operand."""
        col, end = _span(op)
        if len(op) == 1 and op[0].kind == "id":
            number = REG_ALIASES.get(op[0].text.lower())
            if number is not None:
                return number
            if op[0].text[:1] in "rR" and op[0].text[1:].isdigit():
                raise _LineError(f"unknown register '{op[0].text}' (r0..r15)", col, end)
        text = " ".join(t.text for t in op)
        raise _LineError(f"expected a register for {what}, got '{text}'", col, end)

    @staticmethod
    def expr(op: list[Token]) -> Node:
        """An expression operand (registers are rejected with a clear message)."""
        for tok in op:
            if tok.kind == "id" and tok.text.lower() in REG_ALIASES:
                raise _LineError(
                    f"expected a value, got register '{tok.text}'", tok.col, tok.end
                ) from None
            if tok.kind == "str":
                raise _LineError("expected a value, got a string", tok.col, tok.end)
        try:
            return parse_expr(op)
        except ExprError as exc:
            raise _LineError(exc.message, exc.col, exc.end) from None

    def mem(self, op: list[Token]) -> tuple[Node, int]:
        """An ``imm(reg)`` operand; the immediate may be omitted."""
        col, end = _span(op)
        if not (len(op) >= 3 and op[-1].text == ")" and op[-3].text == "("):
            raise _LineError(f"expected 'offset(register)', got '{_text(op)}'", col, end)
        base = self.reg(op[-2:-1], "the base register")
        return (self.expr(op[:-3]) if op[:-3] else _zero()), base

    @staticmethod
    def csr(op: list[Token]) -> Node:
        """A CSR operand: a CSR name or a constant expression."""
        if len(op) == 1 and op[0].kind == "id":
            number = CSR_NUMBERS.get(op[0].text.lower())
            if number is not None:
                return Node("num", number, (), op[0].col, op[0].end)
        return _Assembler.expr(op)

    # --- instructions ---------------------------------------------------------------------
    def instruction(self, head: Token, ops: list[list[Token]]) -> None:
        """A real or pseudo instruction."""
        name = head.text.lower()
        pseudo = _PSEUDOS.get((name, len(ops)))
        if pseudo is not None:
            words = pseudo(self, ops)
            for word in words:
                word.what = name
        elif name in BY_NAME:
            words = [self.real(BY_NAME[name], ops)]
        else:
            counts = sorted(n for (p, n) in _PSEUDOS if p == name)
            if counts:
                want = " or ".join(str(n) for n in counts)
                raise _LineError(
                    f"wrong number of operands for '{name}': expected {want}, got {len(ops)}",
                    head.col,
                    head.end,
                )
            raise _LineError(f"unknown instruction '{head.text}'", head.col, head.end)
        here = self.here()
        block = self.current[self.section]
        misaligned = here % 4 if here is not None else block.size % 4
        if misaligned:
            where = f"0x{here:08x}" if here is not None else f".data+{block.size}"
            raise _LineError(
                f"instruction at misaligned address {where} (use .align 4)", head.col, head.end
            )
        self.emit(4 * len(words), words=words)

    def real(self, instr: Instr, ops: list[list[Token]]) -> _Word:
        """Parse the operands of a table instruction according to its syntax."""
        syntax = operands(instr)
        if len(ops) != len(syntax):
            usage = f"{instr.name} {instr.syntax}".strip()
            col, end = _span([t for op in ops for t in op]) if ops else (0, 0)
            raise _LineError(
                f"wrong number of operands for '{instr.name}': expected {len(syntax)} "
                f"({usage}), got {len(ops)}",
                col,
                end,
            )
        word = _Word(instr, mode="target" if instr.imm == "off" else "value")
        for kind, op in zip(syntax, ops, strict=True):
            if kind in ("rd", "rs1", "rs2"):
                setattr(word, kind, self.reg(op, kind))
            elif kind == "imm":
                word.imm = self.expr(op)
            elif kind == "csr":
                word.imm = self.csr(op)
            else:  # "imm(rs1)"
                word.imm, word.rs1 = self.mem(op)
        return word

    # --- directives -----------------------------------------------------------------------
    def define_equ(self, name: Token, expr: list[Token], at: Token) -> None:
        """``NAME = e`` / ``.equ NAME, e``."""
        if name.kind != "id":
            raise _LineError(f"expected a symbol name, got '{name.text}'", name.col, name.end)
        if not expr:
            raise _LineError("expected an expression", at.end, at.end + 1)
        node = self.expr(expr)
        try:
            value: int | _Pending = evaluate(node, self.lookup, self.here())
        except UnknownSymbolError:
            block = self.current[self.section]
            value = _Pending(node, block, block.size, self.loc)
        except ExprError as exc:
            self.define(name, 0)  # defined anyway, so that its uses report nothing more
            raise _LineError(exc.message, exc.col, exc.end) from None
        self.define(name, value)

    def resolve_pending(self) -> None:
        """Between the passes: give every pending ``.equ`` its value or report why it has none."""
        self.pass1_done = True
        for name, entry in list(self.symbols.items()):
            if isinstance(entry, _Pending):
                self.pending_value(name, entry)

    def include(self, head: Token, ops: list[list[Token]]) -> None:
        """``.include "file"``."""
        name = self.string_operand(head, ops)
        here = Path(self.loc.file).parent
        base = Path(name)
        dirs = [] if base.is_absolute() else [here, *self.include_dirs]
        candidates = [d / base for d in dirs] if dirs else [base]
        col, end = _span(ops[0])
        for candidate in candidates:
            if candidate.is_file():
                break
        else:
            searched = ", ".join(str(d) for d in dirs) or "absolute path"
            raise _LineError(f"cannot find include file '{name}' (searched: {searched})", col, end)
        resolved = candidate.resolve()
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise _LineError(f"includes nested more than {MAX_INCLUDE_DEPTH} deep", col, end)
        if resolved in self.stack:
            chain = [p.name for p in self.stack[self.stack.index(resolved) :]] + [resolved.name]
            raise _LineError(f"include cycle: {' -> '.join(chain)}", col, end)
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _LineError(f"cannot read include file '{name}': {exc}", col, end) from None
        loc = self.loc
        self.run_file(text, str(candidate), resolved)
        self.loc = loc

    def string_operand(self, head: Token, ops: list[list[Token]]) -> str:
        """The single string operand of a directive."""
        if len(ops) != 1 or len(ops[0]) != 1 or ops[0][0].kind != "str":
            col, end = _span([head, *(t for op in ops for t in op)])
            raise _LineError(f"'{head.text}' needs one string operand", col, end)
        return ops[0][0].value.decode("utf-8", "replace")  # type: ignore[union-attr]

    def count(self, head: Token, ops: list[list[Token]], allowed: tuple[int, ...]) -> None:
        """Check a directive's operand count."""
        if len(ops) not in allowed:
            want = " or ".join(str(n) for n in allowed)
            col, end = _span([head, *(t for op in ops for t in op)])
            raise _LineError(
                f"wrong number of operands for '{head.text}': expected {want}, got {len(ops)}",
                col,
                end,
            )

    def name_operand(self, op: list[Token]) -> Token:
        """A single symbol-name operand."""
        if len(op) != 1 or op[0].kind != "id":
            col, end = _span(op)
            raise _LineError(f"expected a symbol name, got '{_text(op)}'", col, end)
        return op[0]

    def d_org(self, head: Token, ops: list[list[Token]]) -> None:
        """``.org ADDR``."""
        self.count(head, ops, (1,))
        addr = self.known(self.expr(ops[0]), ".org")
        if not 0 <= addr < ADDR_LIMIT:
            col, end = _span(ops[0])
            raise _LineError(f".org address {addr} outside 0..0xFFFFFFFF", col, end)
        self.current[self.section] = self._new_block(self.section, addr, self.loc)

    def d_section(self, head: Token, ops: list[list[Token]]) -> None:
        """``.text`` / ``.data``."""
        self.count(head, ops, (0,))
        self.section = head.text.lower()[1:]

    def d_data(self, head: Token, ops: list[list[Token]]) -> None:
        """``.word`` / ``.half`` / ``.byte``."""
        if not ops:
            raise _LineError(f"'{head.text}' needs at least one value", head.col, head.end)
        width = {".word": 4, ".half": 2, ".byte": 1}[head.text.lower()]
        values = [self.expr(op) for op in ops]
        self.emit(width * len(values), values=values, width=width)

    def d_ascii(self, head: Token, ops: list[list[Token]]) -> None:
        """``.ascii`` / ``.asciz``."""
        if not ops:
            raise _LineError(f"'{head.text}' needs at least one string", head.col, head.end)
        raw = bytearray()
        for op in ops:
            if len(op) != 1 or op[0].kind != "str":
                col, end = _span(op)
                raise _LineError(f"expected a string, got '{_text(op)}'", col, end)
            raw += op[0].value  # type: ignore[operator]
            if head.text.lower() == ".asciz":
                raw.append(0)
        self.emit(len(raw), raw=bytes(raw))

    def d_space(self, head: Token, ops: list[list[Token]]) -> None:
        """``.space N [, fill]``."""
        self.count(head, ops, (1, 2))
        n = self.known(self.expr(ops[0]), ".space")
        if not 0 <= n <= MAX_SPACE:
            col, end = _span(ops[0])
            raise _LineError(f".space size {n} out of range 0..{MAX_SPACE}", col, end)
        fill = self.expr(ops[1]) if len(ops) == 2 else _zero()
        self.emit(n, fill=fill)

    def d_align(self, head: Token, ops: list[list[Token]]) -> None:
        """``.align N``: pad with zeros to a multiple of N."""
        self.count(head, ops, (1,))
        n = self.known(self.expr(ops[0]), ".align")
        col, end = _span(ops[0])
        if n <= 0 or n & (n - 1) or n > PAGE_SIZE:
            raise _LineError(f".align needs a power of two 1..{PAGE_SIZE}, got {n}", col, end)
        block = self.current[self.section]
        here = self.here()
        pad = -(here if here is not None else block.size) % n
        if pad:
            self.emit(pad, raw=bytes(pad))

    def d_equ(self, head: Token, ops: list[list[Token]]) -> None:
        """``.equ NAME, e``."""
        self.count(head, ops, (2,))
        self.define_equ(self.name_operand(ops[0]), ops[1], ops[0][0])

    def d_default(self, head: Token, ops: list[list[Token]]) -> None:
        """``.default NAME, e``: define unless already defined."""
        self.count(head, ops, (2,))
        name = self.name_operand(ops[0])
        self.parameters.setdefault(name.text, self.loc)
        if name.text not in self.symbols:
            self.define_equ(name, ops[1], ops[0][0])
        elif self.defined_at[name.text] is None:
            self.used_defines.add(name.text)

    def d_error(self, head: Token, ops: list[list[Token]]) -> None:
        """``.error "message"``: report an error here (used inside ``.if`` to check parameters)."""
        message = self.string_operand(head, ops)
        raise _LineError(message, head.col, _span(ops[0])[1])

    def d_global(self, head: Token, ops: list[list[Token]]) -> None:
        """``.global NAME, ...``: accepted and ignored."""
        if not ops:
            raise _LineError(f"'{head.text}' needs a symbol name", head.col, head.end)
        for op in ops:
            self.name_operand(op)

    def d_entry(self, head: Token, ops: list[list[Token]]) -> None:
        """``.entry LABEL``."""
        self.count(head, ops, (1,))
        if self.entry is not None:
            first = self.entry[1]
            raise _LineError(
                f"entry point already set at {first.file}:{first.line}", head.col, head.end
            )
        self.entry = (self.expr(ops[0]), self.loc)

    def d_if(self, head: Token, ops: list[list[Token]]) -> None:
        """``.if e``."""
        if not self.active():
            self.conds.append(_Cond(False, True, False, self.loc, head.col))
            return
        cond = _Cond(False, True, True, self.loc, head.col)
        self.conds.append(cond)
        self.count(head, ops, (1,))
        cond.active = cond.done = bool(self.known(self.expr(ops[0]), ".if"))

    def d_elif(self, head: Token, ops: list[list[Token]]) -> None:
        """``.elif e``."""
        cond = self.top_cond(head)
        cond.active = False
        if cond.parent_active and not cond.done:
            self.count(head, ops, (1,))
            cond.active = cond.done = bool(self.known(self.expr(ops[0]), ".elif"))

    def d_else(self, head: Token, ops: list[list[Token]]) -> None:
        """``.else``."""
        cond = self.top_cond(head)
        cond.active = cond.parent_active and not cond.done
        cond.done = True
        cond.else_seen = True
        self.count(head, ops, (0,))

    def d_endif(self, head: Token, ops: list[list[Token]]) -> None:
        """``.endif``."""
        if not self.conds:
            raise _LineError("'.endif' without '.if'", head.col, head.end)
        self.conds.pop()
        self.count(head, ops, (0,))

    def top_cond(self, head: Token) -> _Cond:
        """The innermost open ``.if`` (for ``.elif``/``.else``)."""
        if not self.conds:
            raise _LineError(f"'{head.text}' without '.if'", head.col, head.end)
        cond = self.conds[-1]
        if cond.else_seen:
            raise _LineError(f"'{head.text}' after '.else'", head.col, head.end)
        return cond

    # --- between the passes ---------------------------------------------------------------
    def place(self) -> None:
        """Place the automatic ``.data`` block after ``.text`` and check for overlapping output."""
        text_end = max(
            [DEFAULT_ORIGIN]
            + [
                b.start + b.size
                for b in self.blocks
                if b.section == "text" and b.size and b.start is not None
            ]
        )
        for block in self.blocks:
            if block.start is None:
                block.start = -(-text_end // PAGE_SIZE) * PAGE_SIZE
                if block.size and block.start + block.size > ADDR_LIMIT:
                    self.error(".data runs past the end of the 32-bit address space", loc=block.loc)
        used = sorted((b for b in self.blocks if b.size), key=lambda b: b.start or 0)
        widest: _Block | None = None  # the block reaching furthest so far
        for block in used:
            assert block.start is not None
            if widest is not None and block.start < widest.start + widest.size:  # type: ignore[operator]
                first, second = sorted((widest, block), key=self.blocks.index)
                self.overlap(second, first)
            if widest is None or block.start + block.size > widest.start + widest.size:  # type: ignore[operator]
                widest = block

    def overlap(self, block: _Block, other: _Block) -> None:
        """Report that ``block`` (the later one in the source) overlaps ``other``."""

        def describe(b: _Block) -> str:
            where = f"{b.loc.file}:{b.loc.line}" if b.loc else f".{b.section}"
            return f"0x{b.start:08x}..0x{b.start + b.size:08x} ({where})"  # type: ignore[operator]

        loc = block.loc or other.loc
        col = loc.text.lower().find(".org") if loc else -1
        self.error(
            f"overlapping output: {describe(block)} overlaps {describe(other)}",
            max(col, 0),
            col + 4 if col >= 0 else 0,
            loc,
        )

    # --- pass 2 ---------------------------------------------------------------------------
    def final(self, node: Node, dot: int, loc: _Loc) -> int | None:
        """Evaluate an expression in pass 2; report an error and return None if it fails."""
        try:
            return evaluate(node, self.lookup, dot)
        except UnknownSymbolError as exc:
            self.error(self.undefined_message(exc.name), exc.col, exc.end, loc)
        except ExprError as exc:
            self.error(exc.message, exc.col, exc.end, loc)
        return None

    def pass2(self) -> dict[int, tuple[str, int]]:
        """Encode every item into its block; return the source map."""
        source_map: dict[int, tuple[str, int]] = {}
        for block in self.blocks:
            block.data = bytearray(block.size)
        for item in self.items:
            base = item.block.start + item.offset  # type: ignore[operator]
            out = item.block.data
            if item.words is not None:
                for i, word in enumerate(item.words):
                    pc = base + 4 * i
                    value = self.encode_word(word, pc, base, item.loc)
                    out[item.offset + 4 * i : item.offset + 4 * i + 4] = value.to_bytes(4, "little")
                    source_map[pc] = (item.loc.file, item.loc.line)
            elif item.values is not None:
                lo, hi = -(1 << (8 * item.width - 1)), (1 << (8 * item.width)) - 1
                for i, node in enumerate(item.values):
                    value = self.final(node, base, item.loc)
                    if value is None:
                        continue
                    if not lo <= value <= hi:
                        self.error(
                            f"value {value} does not fit in {8 * item.width} bits ({lo}..{hi})",
                            node.col,
                            node.end,
                            item.loc,
                        )
                        continue
                    pos = item.offset + i * item.width
                    out[pos : pos + item.width] = (value & hi).to_bytes(item.width, "little")
            elif item.fill is not None:
                fill = self.final(item.fill, base, item.loc)
                if fill is not None and not -128 <= fill <= 255:
                    self.error(
                        f"fill value {fill} does not fit in a byte (-128..255)",
                        item.fill.col,
                        item.fill.end,
                        item.loc,
                    )
                elif fill:
                    out[item.offset : item.offset + item.size] = bytes([fill & 0xFF]) * item.size
            else:
                out[item.offset : item.offset + item.size] = item.raw
        return source_map

    def segments(self) -> list[Segment]:
        """The output blocks as segments, adjacent blocks merged."""
        segments: list[Segment] = []
        for block in sorted((b for b in self.blocks if b.size), key=lambda b: b.start or 0):
            assert block.start is not None
            if segments and segments[-1].end == block.start:
                last = segments.pop()
                segments.append(Segment(last.addr, last.data + bytes(block.data)))
            else:
                segments.append(Segment(block.start, bytes(block.data)))
        return segments

    def encode_word(self, word: _Word, pc: int, dot: int, loc: _Loc) -> int:
        """Encode one instruction word at ``pc``; report errors and return 0 on failure."""
        instr = word.instr
        field = 0
        if word.imm is not None:
            node = word.imm
            if instr.imm == "csr" and node.kind == "sym" and self.lookup(str(node.value)) is None:
                self.error(
                    f"unknown CSR '{node.value}' (expected a CSR name such as status, or a number)",
                    node.col,
                    node.end,
                    loc,
                )
                return 0
            value = self.final(word.imm, dot, loc)
            if value is None:
                return 0
            col, end = word.imm.col, word.imm.end
            field = value
            if word.mode == "target":
                field = self.offset(instr, value, pc, col, end, loc)
                if field is None:
                    return 0
            elif word.mode in ("hi", "lo"):
                if not WORD_MIN <= value <= WORD_MAX:
                    self.error(
                        f"value {value} out of range for '{word.what}' ({WORD_MIN}..{WORD_MAX})",
                        col,
                        end,
                        loc,
                    )
                    return 0
                field = (
                    ((value + 0x8000) >> 16) & 0xFFFF
                    if word.mode == "hi"
                    else ((value & 0xFFFF) ^ 0x8000) - 0x8000
                )
            elif instr.imm == "csr":
                if field not in CSR_NAMES:
                    self.error(f"unknown CSR number {field}", col, end, loc)
                    return 0
            else:
                lo, hi = imm_range(instr)
                if not lo <= field <= hi:
                    self.error(
                        f"immediate {field} out of range for '{instr.name}' ({lo}..{hi})",
                        col,
                        end,
                        loc,
                    )
                    return 0
        return encode(instr.name, word.rd, word.rs1, word.rs2, field)

    def offset(
        self, instr: Instr, target: int, pc: int, col: int, end: int, loc: _Loc
    ) -> int | None:
        """The signed word offset from ``pc`` to ``target`` (addresses wrap at 2**32)."""
        if not WORD_MIN <= target <= WORD_MAX:
            self.error(f"target address {target} is not a 32-bit address", col, end, loc)
            return None
        if target % 4:
            self.error(f"target 0x{target & WORD_MAX:08x} is not 4-byte aligned", col, end, loc)
            return None
        delta = ((target - pc + (1 << 31)) & WORD_MAX) - (1 << 31)
        lo, hi = imm_range(instr)
        if not lo <= delta // 4 <= hi:
            self.error(
                f"target 0x{target & WORD_MAX:08x} out of range for '{instr.name}' "
                f"({delta // 4} words away; the range is {lo}..{hi})",
                col,
                end,
                loc,
            )
            return None
        return delta // 4

    def entry_point(self) -> int:
        """The image's entry: ``.entry``, else ``_start``, else the first ``.text`` address."""
        if self.entry is not None:
            node, loc = self.entry
            value = self.final(node, 0, loc)
            if value is None:
                return DEFAULT_ORIGIN
            if not 0 <= value <= WORD_MAX or value % 4:
                self.error(
                    f"entry point {value:#x} is not a 4-byte aligned address",
                    node.col,
                    node.end,
                    loc,
                )
                return DEFAULT_ORIGIN
            return value
        start = self.symbols.get("_start")
        if start is not None and not isinstance(start, _Pending):
            value = self.value("_start")
            if value is not None and 0 <= value <= WORD_MAX and value % 4 == 0:
                return value
        for block in self.blocks:
            if block.section == "text" and block.size:
                return block.start  # type: ignore[return-value]
        return DEFAULT_ORIGIN

    def symbol_table(self) -> dict[str, int]:
        """Every symbol's final value; an error for one too large for an image (64 bits)."""
        table = {}
        for name in self.symbols:
            value = self.value(name)
            if value is None:
                continue
            if not SYMBOL_MIN <= value <= SYMBOL_MAX:
                where = self.defined_at.get(name)
                if where is not None:
                    col = max(where.text.find(name), 0)
                    self.error(
                        f"value of '{name}' ({value}) does not fit in 64 bits, "
                        "the largest symbol value an image holds",
                        col,
                        col + len(name),
                        where,
                    )
                continue
            table[name] = value
        return table

    def unused_defines(self, exempt: frozenset[str], filename: str) -> None:
        """Report every define that no ``.default`` names and no expression reads."""
        params = list(self.parameters)
        for name in self.symbols:
            if self.defined_at.get(name, ...) is not None or name in self.used_defines:
                continue
            if name in exempt:
                continue
            folded = {p.lower(): p for p in params}
            close = [folded[c] for c in difflib.get_close_matches(name.lower(), folded, n=3)]
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            if params:
                loc = next(iter(self.parameters.values()))
                col = max(loc.text.lower().find(".default"), 0)
                known = f"the program's parameters (its .default names) are {', '.join(params)}"
                self.error(f"no parameter '{name}'{hint}: {known}", col, col + 8, loc)
            else:
                self.error(
                    f"no parameter '{name}': the program has none (no .default lines)",
                    loc=_Loc(filename, 1, ""),
                )


def _text(op: list[Token]) -> str:
    """Source-like text of an operand."""
    return " ".join(t.text for t in op)


# --- pseudo-instructions ------------------------------------------------------------------------
def _w(name: str, **kw: object) -> _Word:
    """A word of a pseudo-instruction expansion."""
    instr = BY_NAME[name]
    kw.setdefault("mode", "target" if instr.imm == "off" else "value")
    return _Word(instr, **kw)  # type: ignore[arg-type]


def _li(a: _Assembler, ops: list[list[Token]]) -> list[_Word]:
    """``li rd, e``: one addi if e is known now and fits 16 signed bits, else lui + addi."""
    rd, node = a.reg(ops[0], "rd"), a.expr(ops[1])
    try:
        value = evaluate(node, a.lookup, a.here())
    except (UnknownSymbolError, ExprError):
        value = None
    if value is not None and -0x8000 <= value <= 0x7FFF:
        return [_w("addi", rd=rd, imm=node)]
    return [_w("lui", rd=rd, imm=node, mode="hi"), _w("addi", rd=rd, rs1=rd, imm=node, mode="lo")]


def _la(a: _Assembler, ops: list[list[Token]]) -> list[_Word]:
    """``la rd, label``: always lui + addi."""
    rd, node = a.reg(ops[0], "rd"), a.expr(ops[1])
    return [_w("lui", rd=rd, imm=node, mode="hi"), _w("addi", rd=rd, rs1=rd, imm=node, mode="lo")]


def _two_regs(expand: Callable[[int, int], list[_Word]]) -> Callable:
    """A pseudo of the form ``op rd, rs``."""
    return lambda a, ops: expand(a.reg(ops[0], "rd"), a.reg(ops[1], "rs"))


def _branch0(name: str, swap: bool) -> Callable:
    """``bxxz rs, label`` comparing with zero (``swap`` puts zero first)."""

    def expand(a: _Assembler, ops: list[list[Token]]) -> list[_Word]:
        rs, target = a.reg(ops[0], "rs"), a.expr(ops[1])
        rs1, rs2 = (0, rs) if swap else (rs, 0)
        return [_w(name, rs1=rs1, rs2=rs2, imm=target)]

    return expand


def _branch_swapped(name: str) -> Callable:
    """``bgt a, b, l`` and friends: the real branch with its registers swapped."""

    def expand(a: _Assembler, ops: list[list[Token]]) -> list[_Word]:
        x, y, target = a.reg(ops[0], "rs1"), a.reg(ops[1], "rs2"), a.expr(ops[2])
        return [_w(name, rs1=y, rs2=x, imm=target)]

    return expand


def _jump(rd: int) -> Callable:
    """``j label`` / ``jal label`` / ``call label``."""
    return lambda a, ops: [_w("jal", rd=rd, imm=a.expr(ops[0]))]


_RA, _SP = REG_ALIASES["ra"], REG_ALIASES["sp"]

# (mnemonic, operand count) -> expansion
_PSEUDOS: dict[tuple[str, int], Callable[[_Assembler, list[list[Token]]], list[_Word]]] = {
    ("nop", 0): lambda a, ops: [_w("addi")],
    ("li", 2): _li,
    ("la", 2): _la,
    ("mv", 2): _two_regs(lambda rd, rs: [_w("addi", rd=rd, rs1=rs, imm=_zero())]),
    ("not", 2): _two_regs(
        lambda rd, rs: [_w("sub", rd=rd, rs2=rs), _w("addi", rd=rd, rs1=rd, imm=_const(-1))]
    ),
    ("neg", 2): _two_regs(lambda rd, rs: [_w("sub", rd=rd, rs2=rs)]),
    ("seqz", 2): _two_regs(lambda rd, rs: [_w("sltiu", rd=rd, rs1=rs, imm=_const(1))]),
    ("snez", 2): _two_regs(lambda rd, rs: [_w("sltu", rd=rd, rs2=rs)]),
    ("j", 1): _jump(0),
    ("jal", 1): _jump(_RA),
    ("call", 1): _jump(_RA),
    ("jr", 1): lambda a, ops: [_w("jalr", rs1=a.reg(ops[0], "rs"), imm=_zero())],
    ("ret", 0): lambda a, ops: [_w("jalr", rs1=_RA, imm=_zero())],
    ("beqz", 2): _branch0("beq", False),
    ("bnez", 2): _branch0("bne", False),
    ("bltz", 2): _branch0("blt", False),
    ("bgez", 2): _branch0("bge", False),
    ("blez", 2): _branch0("bge", True),
    ("bgtz", 2): _branch0("blt", True),
    ("bgt", 3): _branch_swapped("blt"),
    ("ble", 3): _branch_swapped("bge"),
    ("bgtu", 3): _branch_swapped("bltu"),
    ("bleu", 3): _branch_swapped("bgeu"),
    ("push", 1): lambda a, ops: [
        _w("addi", rd=_SP, rs1=_SP, imm=_const(-4)),
        _w("sw", rs2=a.reg(ops[0], "rs"), rs1=_SP, imm=_zero()),
    ],
    ("pop", 1): lambda a, ops: [
        _w("lw", rd=a.reg(ops[0], "rd"), rs1=_SP, imm=_zero()),
        _w("addi", rd=_SP, rs1=_SP, imm=_const(4)),
    ],
}
PSEUDO_NAMES: frozenset[str] = frozenset(name for name, _ in _PSEUDOS)

_DIRECTIVES: dict[str, Callable[[_Assembler, Token, list[list[Token]]], None]] = {
    ".org": _Assembler.d_org,
    ".text": _Assembler.d_section,
    ".data": _Assembler.d_section,
    ".word": _Assembler.d_data,
    ".half": _Assembler.d_data,
    ".byte": _Assembler.d_data,
    ".ascii": _Assembler.d_ascii,
    ".asciz": _Assembler.d_ascii,
    ".space": _Assembler.d_space,
    ".align": _Assembler.d_align,
    ".equ": _Assembler.d_equ,
    ".include": _Assembler.include,
    ".default": _Assembler.d_default,
    ".if": _Assembler.d_if,
    ".elif": _Assembler.d_elif,
    ".else": _Assembler.d_else,
    ".endif": _Assembler.d_endif,
    ".global": _Assembler.d_global,
    ".globl": _Assembler.d_global,
    ".entry": _Assembler.d_entry,
    ".error": _Assembler.d_error,
}
DIRECTIVE_NAMES: frozenset[str] = frozenset(_DIRECTIVES)


# --- public API ---------------------------------------------------------------------------------
def _check_defines(defines: object) -> dict[str, int]:
    """``defines`` as a dict of symbol name -> Python int; TypeError or ValueError naming the entry."""
    if defines is None:
        return {}
    if not isinstance(defines, Mapping):
        raise TypeError(
            f"defines must be a mapping of name -> int (a dict), not {type(defines).__name__}"
        )
    checked: dict[str, int] = {}
    for name, value in defines.items():
        if not isinstance(name, str) or not IDENT.fullmatch(name) or name == ".":
            raise ValueError(f"defines: {name!r} is not a valid symbol name")
        if len(name) > MAX_NAME:
            raise ValueError(f"defines: a name of {len(name)} characters is too long")
        if name.lower() in REG_ALIASES:
            raise ValueError(f"defines: {name!r} is a register name")
        if isinstance(value, bool):
            raise TypeError(f"defines: value of {name!r} must be an int, got {value!r}")
        try:
            number = operator.index(value)
        except TypeError:
            raise TypeError(f"defines: value of {name!r} must be an int, got {value!r}") from None
        if not SYMBOL_MIN <= number <= SYMBOL_MAX:
            raise ValueError(f"defines: value of {name!r} ({number}) does not fit in 64 bits")
        checked[name] = number
    return checked


def _check_include_dirs(include_dirs: object) -> list[Path]:
    """The include directories: one path (str, bytes, os.PathLike) or an iterable of paths."""
    if isinstance(include_dirs, (str, bytes, os.PathLike)):
        include_dirs = [include_dirs]
    elif isinstance(include_dirs, Mapping) or not isinstance(include_dirs, Iterable):
        raise TypeError(
            "include_dirs must be a directory or a list of directories (str or pathlib.Path), "
            f"not {type(include_dirs).__name__}"
        )
    return [Path(file_name(d, f"include_dirs[{i}]")) for i, d in enumerate(include_dirs)]


def _assemble(
    text: str,
    filename: str,
    path: Path | None,
    defines: object,
    include_dirs: object,
    check_defines: frozenset[str] | None = None,
) -> Image:
    """Run both passes over one top-level source.

    ``check_defines`` None accepts any define; a set makes every define that is not one of the
    program's parameters, nor in the set, an error (see :func:`assemble_program`).
    """
    asm = _Assembler(_check_defines(defines), _check_include_dirs(include_dirs))
    asm.run_file(text, filename, path)
    asm.resolve_pending()
    asm.place()
    source_map = asm.pass2()
    entry = asm.entry_point()
    symbols = asm.symbol_table()
    if check_defines is not None:
        asm.unused_defines(check_defines, filename)
    if asm.diagnostics:
        order = asm.file_order
        asm.diagnostics.sort(key=lambda d: (order.get(d.file, len(order)), d.line, d.column))
        raise AssembleError(asm.diagnostics, asm.suppressed)
    constants = frozenset(n for n, v in asm.symbols.items() if not isinstance(v, _Label))
    return Image(asm.segments(), entry, symbols, source_map, constants)


def assemble(
    source: str,
    filename: str | os.PathLike[str] = "<input>",
    *,
    defines: Mapping[str, int] | None = None,
    include_dirs: Iterable[os.PathLike | str] | os.PathLike | str = (),
) -> Image:
    """Assemble VL32 source text into an Image; AssembleError lists every error found.

    ``defines`` pre-defines symbols (name -> int; ``.default`` keeps them); ``.include`` looks
    next to ``filename`` (a str or path, kept as a str in the source map) first, then in
    ``include_dirs`` (one directory or a list of them). A leading byte-order mark is skipped.

    >>> img = assemble("li a0, 0x12345678")
    >>> [hex(img.word_at(addr)) for addr in (0x1000, 0x1004)]
    ['0x12340429', '0x56784420']
    """
    if not isinstance(source, str):
        hint = " (decode it first: data.decode('utf-8'))" if isinstance(source, bytes) else ""
        raise TypeError(f"source must be a str of assembly text, not {type(source).__name__}{hint}")
    name = file_name(filename, "filename")
    return _assemble(source, name, None, defines, include_dirs)


def _read_source(path: object) -> tuple[str, Path]:
    """The text of a source file and its path; AssembleError if it is not UTF-8."""
    data = read_bytes(path, "assembly source file")  # type: ignore[arg-type]
    given = Path(file_name(path, "the assembly source file's path"))
    try:
        return data.decode("utf-8"), given
    except UnicodeDecodeError as exc:
        raise AssembleError([_not_utf8(str(given), data, exc.start)]) from None


def assemble_file(
    path: str | os.PathLike[str],
    *,
    defines: Mapping[str, int] | None = None,
    include_dirs: Iterable[os.PathLike | str] | os.PathLike | str = (),
) -> Image:
    """Assemble a source file (see :func:`assemble`); an OSError names the file if it is unreadable.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "p.s"; _ = p.write_text("halt\\n")
    >>> assemble_file(p).word_at(0x1000)
    90
    """
    text, given = _read_source(path)
    return _assemble(text, str(given), given.resolve(), defines, include_dirs)


def assemble_program(
    path: str | os.PathLike[str],
    *,
    defines: Mapping[str, int] | None = None,
    include_dirs: Iterable[os.PathLike | str] | os.PathLike | str = (),
    also_accept: Iterable[str] = (),
) -> Image:
    """Like :func:`assemble_file`, but every define must be one of the program's parameters.

    A program's parameters are the names its ``.default`` lines give (and any symbol it reads
    without defining). A define that is none of them, nor in ``also_accept``, is an AssembleError
    listing the parameters: a misspelt size would otherwise be silently ignored.
    """
    text, given = _read_source(path)
    exempt = frozenset(also_accept)
    return _assemble(text, str(given), given.resolve(), defines, include_dirs, exempt)


def _not_utf8(file: str, data: bytes, pos: int) -> Diagnostic:
    """The error for a source file whose byte at ``pos`` is not UTF-8."""
    start = data.rfind(b"\n", 0, pos) + 1
    stop = data.find(b"\n", pos)
    line = data[start : len(data) if stop < 0 else stop].decode("utf-8", "replace").rstrip("\r")
    column = len(data[start:pos].decode("utf-8", "replace")) + 1
    return Diagnostic(
        file,
        data.count(b"\n", 0, pos) + 1,
        column,
        f"the file is not UTF-8 text (byte 0x{data[pos]:02x}): save it as UTF-8",
        line,
    )
