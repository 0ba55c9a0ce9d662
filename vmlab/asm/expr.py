"""Tokens and constant expressions of VL32 assembly: the lexer, the expression parser and evaluator.

Columns are 0-based character offsets into the source line; errors carry the span they refer to.

>>> toks = tokenize("1 + 2 * 3")
>>> evaluate(parse_expr(toks), lambda name: None, None)
7
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ExprError",
    "Node",
    "Token",
    "UnknownSymbolError",
    "evaluate",
    "parse_expr",
    "tokenize",
]

IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.$]*")
_NUMBER = re.compile(r"[0-9][A-Za-z0-9_]*")
_RELOC = re.compile(r"%(hi|lo)(?![A-Za-z0-9_.$])", re.IGNORECASE)
_OPERATORS = ("<<", ">>", "==", "!=", "<=", ">=", "&&", "||", *"+-*/%&|^~!(),:=<>")
_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, '"': 34, "'": 39}
_BASES = {"0x": 16, "0b": 2, "0o": 8}
MAX_SHIFT = 64  # shift counts above this are an error (keeps expressions small)


class ExprError(Exception):
    """A syntax or evaluation error at columns [col, end) of a line."""

    def __init__(self, message: str, col: int, end: int) -> None:
        super().__init__(message)
        self.message, self.col, self.end = message, col, end


class UnknownSymbolError(Exception):
    """An expression names a symbol whose value is not (yet) known."""

    def __init__(self, name: str, col: int, end: int) -> None:
        super().__init__(name)
        self.name, self.col, self.end = name, col, end


@dataclass(frozen=True)
class Token:
    """One lexical token: kind is "id", "num", "str", "op" or "reloc"."""

    kind: str
    text: str
    value: object  # int for num, bytes for str, the name for id/op, "hi"/"lo" for reloc
    col: int
    end: int


def _escape(line: str, i: int, quote: str) -> tuple[int, int]:
    """Decode the escape sequence at line[i] == "\\"; return (byte value, next index)."""
    if i + 1 >= len(line):
        raise ExprError(f"unterminated {_kind(quote)} literal", i, i + 1)
    c = line[i + 1]
    if c in _ESCAPES:
        return _ESCAPES[c], i + 2
    if c == "x":
        digits = line[i + 2 : i + 4]
        if len(digits) == 2 and all(d in "0123456789abcdefABCDEF" for d in digits):
            return int(digits, 16), i + 4
        raise ExprError("bad escape: '\\x' needs two hex digits", i, i + 2 + len(digits))
    raise ExprError(f"unknown escape sequence '\\{c}'", i, i + 2)


def _kind(quote: str) -> str:
    """Name of the literal kind started by a quote character."""
    return "string" if quote == '"' else "character"


def _quoted(line: str, start: int) -> tuple[bytes, int]:
    """Read a quoted literal starting at line[start]; return (bytes, index after the quote)."""
    quote = line[start]
    out = bytearray()
    i = start + 1
    while i < len(line):
        c = line[i]
        if c == quote:
            return bytes(out), i + 1
        if c == "\\":
            value, i = _escape(line, i, quote)
            out.append(value)
        else:
            out += c.encode()
            i += 1
    raise ExprError(f"unterminated {_kind(quote)} literal", start, len(line))


def _number(text: str, col: int) -> int:
    """Value of a numeric literal (decimal, 0x, 0b, 0o; '_' separators allowed)."""
    base = _BASES.get(text[:2].lower(), 10)
    body = text[2:] if base != 10 else text
    digits = body.replace("_", "")
    try:
        if not digits or body.endswith("_"):
            raise ValueError
        return int(digits, base)
    except ValueError:
        raise ExprError(f"bad number literal '{text}'", col, col + len(text)) from None


def tokenize(line: str) -> list[Token]:
    """Split one source line into tokens, dropping the comment (``#`` or ``;`` to end of line)."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
        elif c in "#;":
            break
        elif m := IDENT.match(line, i):
            tokens.append(Token("id", m.group(), m.group(), i, m.end()))
            i = m.end()
        elif m := _NUMBER.match(line, i):
            tokens.append(Token("num", m.group(), _number(m.group(), i), i, m.end()))
            i = m.end()
        elif c == "'":
            data, end = _quoted(line, i)
            if len(data) != 1:
                raise ExprError("a character literal holds exactly one character", i, end) from None
            tokens.append(Token("num", line[i:end], data[0], i, end))
            i = end
        elif c == '"':
            data, end = _quoted(line, i)
            tokens.append(Token("str", line[i:end], data, i, end))
            i = end
        elif c == "%" and (m := _RELOC.match(line, i)):
            tokens.append(Token("reloc", m.group(), m.group(1).lower(), i, m.end()))
            i = m.end()
        else:
            for op in _OPERATORS:
                if line.startswith(op, i):
                    tokens.append(Token("op", op, op, i, i + len(op)))
                    i += len(op)
                    break
            else:
                raise ExprError(f"unexpected character {c!r}", i, i + 1)
    return tokens


# --- expression trees ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """An expression tree node: kind "num", "sym", "dot", "unary", "binary" or "reloc"."""

    kind: str
    value: object  # int (num), name (sym), operator (unary/binary), "hi"/"lo" (reloc)
    args: tuple[Node, ...]
    col: int
    end: int
    op_col: int = 0  # span of a binary operator (for "division by zero" errors)
    op_end: int = 0
    depth: int = 1  # levels of the tree under and including this node


# binary operators by precedence, loosest first (C precedence)
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("|",),
    ("^",),
    ("&",),
    ("==", "!="),
    ("<", "<=", ">", ">="),
    ("<<", ">>"),
    ("+", "-"),
    ("*", "/", "%"),
)
_PRECEDENCE = {op: level for level, ops in enumerate(_LEVELS) for op in ops}
MAX_NESTING = 32  # parentheses, %hi/%lo and unary operators inside one another
MAX_DEPTH = 256  # operations in a chain (a + b + c ... is evaluated one level per operator)


class _Parser:
    """Precedence-climbing parser over one operand's tokens."""

    def __init__(self, tokens: list[Token], col: int, end: int) -> None:
        self.toks, self.i, self.col, self.end = tokens, 0, col, end
        self.nesting = 0

    def nest(self, tok: Token) -> None:
        """Enter one more level of nesting at ``tok``; ExprError past ``MAX_NESTING``."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExprError(
                f"expression nested too deeply (more than {MAX_NESTING} levels)", tok.col, tok.end
            )

    def node(
        self,
        kind: str,
        value: object,
        args: tuple[Node, ...],
        col: int,
        end: int,
        op_col: int = 0,
        op_end: int = 0,
    ) -> Node:
        """A node over ``args``; ExprError if the tree grows deeper than ``MAX_DEPTH``."""
        depth = 1 + max(a.depth for a in args)
        if depth > MAX_DEPTH:
            raise ExprError(
                f"expression too long (more than {MAX_DEPTH} operations in a chain)", col, end
            )
        return Node(kind, value, args, col, end, op_col, op_end, depth)

    def peek(self) -> Token | None:
        """The next token, or None at the end."""
        return self.toks[self.i] if self.i < len(self.toks) else None

    def expect(self, text: str) -> Token:
        """Consume an operator token ``text`` or raise."""
        tok = self.peek()
        if tok is None or tok.kind != "op" or tok.text != text:
            raise self.unexpected(f"expected '{text}'")
        self.i += 1
        return tok

    def unexpected(self, what: str) -> ExprError:
        """An error at the next token (or at the end of the operand)."""
        tok = self.peek()
        if tok is None:
            return ExprError(f"{what} at the end of the expression", self.end, self.end + 1)
        return ExprError(f"{what}, got '{tok.text}'", tok.col, tok.end)

    def binary(self, level: int) -> Node:
        """Parse operators of precedence ``level`` and tighter."""
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in _LEVELS[level]:
            self.i += 1
            right = self.binary(level + 1)
            left = self.node(
                "binary", tok.text, (left, right), left.col, right.end, tok.col, tok.end
            )
        return left

    def unary(self) -> Node:
        """Parse a unary operator or a primary."""
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text in ("-", "+", "~", "!"):
            self.i += 1
            self.nest(tok)
            arg = self.unary()
            self.nesting -= 1
            return self.node("unary", tok.text, (arg,), tok.col, arg.end)
        return self.primary()

    def primary(self) -> Node:
        """Parse a literal, symbol, ``.``, parenthesised expression or %hi/%lo."""
        tok = self.peek()
        if tok is None:
            raise self.unexpected("expected a value")
        self.i += 1
        if tok.kind == "num":
            return Node("num", tok.value, (), tok.col, tok.end)
        if tok.kind == "id":
            kind = "dot" if tok.text == "." else "sym"
            return Node(kind, tok.text, (), tok.col, tok.end)
        if tok.kind == "reloc":
            self.expect("(")
            self.nest(tok)
            inner = self.binary(0)
            close = self.expect(")")
            self.nesting -= 1
            return self.node("reloc", tok.value, (inner,), tok.col, close.end)
        if tok.kind == "op" and tok.text == "(":
            self.nest(tok)
            inner = self.binary(0)
            self.expect(")")
            self.nesting -= 1
            return inner
        if tok.kind == "str":
            raise ExprError("a string is not a number here", tok.col, tok.end)
        self.i -= 1
        raise self.unexpected("expected a value")


def parse_expr(tokens: list[Token]) -> Node:
    """Parse a whole token list as one expression; ExprError on anything left over."""
    if not tokens:
        raise ExprError("expected an expression", 0, 1)
    parser = _Parser(tokens, tokens[0].col, tokens[-1].end)
    node = parser.binary(0)
    if parser.peek() is not None:
        raise parser.unexpected("unexpected token in expression")
    return node


def _trunc_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (C semantics)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def evaluate(node: Node, lookup: Callable[[str], int | None], dot: int | None) -> int:
    """Evaluate an expression; UnknownSymbolError for an unknown symbol (or ``.``), ExprError for bad math."""
    kind = node.kind
    if kind == "num":
        return node.value  # type: ignore[return-value]
    if kind == "sym":
        value = lookup(node.value)  # type: ignore[arg-type]
        if value is None:
            raise UnknownSymbolError(node.value, node.col, node.end)  # type: ignore[arg-type]
        return value
    if kind == "dot":
        if dot is None:
            raise UnknownSymbolError(".", node.col, node.end)
        return dot
    if kind == "reloc":
        x = evaluate(node.args[0], lookup, dot)
        if node.value == "hi":
            return ((x + 0x8000) >> 16) & 0xFFFF
        return ((x & 0xFFFF) ^ 0x8000) - 0x8000
    if kind == "unary":
        x = evaluate(node.args[0], lookup, dot)
        return {"-": -x, "+": x, "~": ~x, "!": int(not x)}[node.value]  # type: ignore[index]
    op, op_col, op_end = node.value, node.op_col, node.op_end
    a = evaluate(node.args[0], lookup, dot)
    if op == "&&":
        return int(bool(a) and bool(evaluate(node.args[1], lookup, dot)))
    if op == "||":
        return int(bool(a) or bool(evaluate(node.args[1], lookup, dot)))
    b = evaluate(node.args[1], lookup, dot)
    if op in ("/", "%") and b == 0:
        raise ExprError("division by zero", op_col, op_end)
    if op in ("<<", ">>") and not 0 <= b <= MAX_SHIFT:
        raise ExprError(f"shift count {b} out of range 0..{MAX_SHIFT}", op_col, op_end)
    if op == "/":
        return _trunc_div(a, b)
    if op == "%":
        return a - b * _trunc_div(a, b)
    return _BINARY[op](a, b)


_BINARY: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b,
    "&": lambda a, b: a & b,
    "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b,
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b),
    "<=": lambda a, b: int(a <= b),
    ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b),
}
