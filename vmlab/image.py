"""A loadable VL32 program image (segments, entry point, symbols, source map) and its file format.

File format (``.img``), all integers little-endian, version 2 (version 1 is still read)::

    offset  size  field
    0       8     magic  b"VL32IMG\\0"
    8       2     version (u16) = 2
    10      2     flags (u16) = 0
    12      4     total file length in bytes, checksum included (u32)
    16      4     entry point (u32)
    20      4     number of segments S (u32)
    24      4     number of symbols Y (u32)
    28      4     number of source files F (u32)
    32      4     number of source-map entries M (u32)
    36            S segments:      addr (u32), length (u32), then `length` bytes of data
                  Y symbols:       value (i64), kind (u8: 0 label, 1 constant; absent in
                                   version 1, where every symbol counts as a label),
                                   name length (u16), UTF-8 name
                  F source files:  name length (u16), name (UTF-8; bytes of a path that
                                   is not UTF-8 are kept as they are)
                  M map entries:   addr (u32), file index (u32), line (u32)
    end-4   4     CRC-32 (zlib.crc32) of every byte before it (u32)

Segments are stored sorted by address and never overlap. Files are written atomically (a temporary
file in the same directory, then ``os.replace``). Any malformed file raises :class:`ImageFormatError`
naming the file and the problem.

>>> img = Image([Segment(0x1000, b"\\x5a\\x00\\x00\\x00")], entry=0x1000)
>>> Image.from_bytes(img.to_bytes()) == img
True
"""

from __future__ import annotations

import difflib
import itertools
import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .checks import ADDR_LIMIT, as_address, as_int
from .files import file_name, read_bytes, write_atomically

__all__ = ["FORMAT_VERSION", "MAGIC", "Image", "ImageFormatError", "Segment"]

MAGIC = b"VL32IMG\0"
FORMAT_VERSION = 2
_HEADER = struct.Struct("<8sHHIIIIII")
_SEGMENT = struct.Struct("<II")
_SYMBOL_V1 = struct.Struct("<qH")
_SYMBOL = struct.Struct("<qBH")
_NAME = struct.Struct("<H")
_MAPENTRY = struct.Struct("<III")
_CRC = struct.Struct("<I")
_NAME_LIMIT = 0xFFFF  # a name's length is stored in 16 bits
_SYMBOL_MIN, _SYMBOL_MAX = -(1 << 63), (1 << 63) - 1  # symbol values are stored in 64 bits


class ImageFormatError(ValueError):
    """An image file or byte string is not a valid VL32 image."""


@dataclass(frozen=True)
class Segment:
    """A run of bytes loaded at a physical address."""

    addr: int
    data: bytes

    def __post_init__(self) -> None:
        """Check the fields: ``addr`` a 32-bit address, ``data`` bytes-like, all inside 4 GiB."""
        addr = as_address(self.addr, "Segment addr")
        data = _bytes_like(self.data, "Segment data")
        object.__setattr__(self, "addr", addr)
        object.__setattr__(self, "data", data)
        if addr + len(data) > ADDR_LIMIT:
            raise ValueError(f"segment 0x{addr:x}+{len(data)} is outside the 32-bit address space")

    @property
    def end(self) -> int:
        """One past the last address of the segment."""
        return self.addr + len(self.data)


def _bytes_like(value: object, what: str) -> bytes:
    """The bytes of a bytes-like object (bytes, bytearray, memoryview, array); TypeError if none."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        try:
            return memoryview(value).tobytes()  # type: ignore[arg-type]
        except TypeError:
            pass
    raise TypeError(f"{what} must be bytes-like (bytes or bytearray), not {type(value).__name__}")


def _name(value: object, what: str, *, path: bool = False) -> str:
    """A str that the file format can store (UTF-8, at most 65535 bytes); error naming ``what``."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    try:  # a path keeps the bytes the OS could not decode (surrogate escapes)
        raw = value.encode("utf-8", "surrogateescape" if path else "strict")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} {value[:40]!r} cannot be encoded as UTF-8: {exc.reason}"
        ) from None
    if len(raw) > _NAME_LIMIT:
        raise ValueError(
            f"{what} {value[:40]!r}... is {len(raw)} bytes long in UTF-8; "
            f"an image holds names of at most {_NAME_LIMIT} bytes"
        )
    return value


def _check_segments(segments: object) -> tuple[Segment, ...]:
    """Segments sorted by address; TypeError if one is not a Segment, ValueError if two overlap."""
    if isinstance(segments, (str, bytes, bytearray, memoryview, Mapping, Segment)) or not (
        isinstance(segments, Iterable)
    ):
        raise TypeError(
            "Image segments must be a list of Segment objects, not "
            f"{type(segments).__name__} (raw bytes go in Segment(addr, data))"
        )
    items = list(segments)
    for i, seg in enumerate(items):
        if not isinstance(seg, Segment):
            raise TypeError(f"Image segments[{i}] must be a Segment, not {type(seg).__name__}")
    ordered = tuple(sorted(items, key=lambda s: s.addr))
    for a, b in itertools.pairwise(ordered):
        if b.addr < a.end:
            raise ValueError(
                f"segments overlap: 0x{a.addr:08x}..0x{a.end:08x} and 0x{b.addr:08x}..0x{b.end:08x}"
            )
    return ordered


def _check_symbols(symbols: object) -> dict[str, int]:
    """A copy of a symbol table (name -> 64-bit int); TypeError or ValueError naming the symbol."""
    if not isinstance(symbols, Mapping):
        raise TypeError(
            f"Image symbols must be a dict of name -> int, not {type(symbols).__name__}"
        )
    table: dict[str, int] = {}
    for name, value in symbols.items():
        if not isinstance(name, str):
            raise TypeError(f"Image symbol names must be str, not {type(name).__name__} ({name!r})")
        _name(name, "Image symbol name")
        number = as_int(value, f"Image symbol {name!r}")
        if not _SYMBOL_MIN <= number <= _SYMBOL_MAX:
            raise ValueError(f"symbol {name!r} = {number} does not fit in 64 bits")
        table[name] = number
    return table


def _check_source_map(source_map: object) -> dict[int, tuple[str, int]]:
    """A copy of a source map (address -> (file, line)); TypeError or ValueError naming the entry."""
    if not isinstance(source_map, Mapping):
        raise TypeError(
            "Image source_map must be a dict of address -> (file, line), "
            f"not {type(source_map).__name__}"
        )
    table: dict[int, tuple[str, int]] = {}
    for addr, where in source_map.items():
        number = as_address(addr, "Image source_map address")
        what = f"Image source_map[0x{number:08x}]"
        if not isinstance(where, (tuple, list)) or len(where) != 2:
            raise TypeError(f"{what} must be a (file, line) pair, not {where!r:.60}")
        file, line = where
        line = as_int(line, f"{what} line")
        if not 0 <= line < ADDR_LIMIT:
            raise ValueError(f"{what} line {line} is outside 0..{ADDR_LIMIT - 1}")
        table[number] = (_name(file, f"{what} file", path=True), line)
    return table


def _check_constants(constants: object, symbols: dict[str, int]) -> frozenset[str]:
    """The names in ``constants`` that are symbols; TypeError unless it is a set of str."""
    if isinstance(constants, (str, bytes)) or not isinstance(constants, Iterable):
        raise TypeError(
            f"Image constants must be a set of symbol names, not {type(constants).__name__}"
        )
    names = frozenset(constants)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"Image constants must be symbol names (str), not {name!r}")
    return names & frozenset(symbols)


@dataclass
class Image:
    """A program ready to load: segments, entry point, symbol table and source map.

    The constructor checks every field (TypeError or ValueError naming it): ``segments`` Segment
    objects that do not overlap, ``entry`` a 32-bit address, ``symbols`` str -> int (64-bit),
    ``source_map`` address -> (file, line), ``constants`` a set of symbol names; names must fit
    the file format (UTF-8, at most 65535 bytes).
    """

    segments: tuple[Segment, ...]
    entry: int = 0
    symbols: dict[str, int] = field(default_factory=dict)
    source_map: dict[int, tuple[str, int]] = field(default_factory=dict)
    constants: frozenset[str] = frozenset()  # symbols that are values (.equ), not addresses

    def __post_init__(self) -> None:
        """Validate and normalise every field (segments sorted, dicts copied, ints made int)."""
        segments = _check_segments(self.segments)
        entry = as_address(self.entry, "Image entry")
        symbols = _check_symbols(self.symbols)
        source_map = _check_source_map(self.source_map)
        constants = _check_constants(self.constants, symbols)
        self.segments, self.entry, self.symbols = segments, entry, symbols
        self.source_map, self.constants = source_map, constants

    # --- queries -------------------------------------------------------------------------
    def word_at(self, addr: int) -> int:
        """The little-endian 32-bit word stored at ``addr``; ValueError if not fully inside a segment."""
        for seg in self.segments:
            if seg.addr <= addr and addr + 4 <= seg.end:
                off = addr - seg.addr
                return int.from_bytes(seg.data[off : off + 4], "little")
        raise ValueError(f"no segment holds the 4 bytes at 0x{addr:08x}")

    def symbol(self, name: str) -> int:
        """The value of symbol ``name``; KeyError listing close matches if there is none."""
        try:
            return self.symbols[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.symbols), n=5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no symbol {name!r} in the image{hint}") from None

    @property
    def labels(self) -> dict[str, int]:
        """The symbols that name addresses (labels), without ``.equ`` constants."""
        return {k: v for k, v in self.symbols.items() if k not in self.constants}

    @property
    def size(self) -> int:
        """Total number of bytes in all segments."""
        return sum(len(s.data) for s in self.segments)

    # --- serialisation -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise the image in the documented ``.img`` format.

        The fields are checked again first (they may have been changed since the image was made),
        so a bad one is an error naming it, not a half-written file.
        """
        img = Image(self.segments, self.entry, self.symbols, self.source_map, self.constants)
        files = sorted({f for f, _ in img.source_map.values()})
        index = {f: i for i, f in enumerate(files)}
        body = bytearray()
        for seg in img.segments:
            body += _SEGMENT.pack(seg.addr, len(seg.data)) + seg.data
        for name, value in img.symbols.items():
            raw = name.encode()
            body += _SYMBOL.pack(value, 1 if name in img.constants else 0, len(raw)) + raw
        for f in files:
            raw = f.encode("utf-8", "surrogateescape")  # (a path's bytes the OS could not decode)
            body += _NAME.pack(len(raw)) + raw
        for addr, (f, line) in sorted(img.source_map.items()):
            body += _MAPENTRY.pack(addr, index[f], line)
        total = _HEADER.size + len(body) + _CRC.size
        header = _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            0,
            total,
            img.entry,
            len(img.segments),
            len(img.symbols),
            len(files),
            len(img.source_map),
        )
        data = header + bytes(body)
        return data + _CRC.pack(zlib.crc32(data))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Image:
        """Parse an image; ImageFormatError (naming ``source``) if the bytes are not a valid image."""
        return _parse(_bytes_like(data, "Image.from_bytes data"), source)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the image to ``path`` atomically (see ``vmlab.files``: only a regular file is replaced)."""
        write_atomically(path, [self.to_bytes()])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Image:
        """Read an image file; ImageFormatError naming the file if it is not a valid image."""
        return _parse(read_bytes(path, "image file"), file_name(path, "the image file's path"))


class _Reader:
    """Sequential reader over a byte string that reports truncation as ImageFormatError."""

    def __init__(self, data: bytes, pos: int, end: int, source: str) -> None:
        self.data, self.pos, self.end, self.source = data, pos, end, source

    def take(self, n: int, what: str) -> bytes:
        """The next ``n`` bytes; ImageFormatError if fewer remain."""
        if self.pos + n > self.end:
            raise ImageFormatError(f"{self.source}: corrupt image: {what} runs past the end")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct, what: str) -> tuple[int, ...]:
        """Unpack the next record of ``fmt``."""
        return fmt.unpack(self.take(fmt.size, what))

    def name(self, what: str, path: bool = False) -> str:
        """A u16-length-prefixed UTF-8 string (a ``path`` keeps bytes that are not UTF-8)."""
        (length,) = self.unpack(_NAME, what)
        raw = self.take(length, what)
        try:
            return raw.decode("utf-8", "surrogateescape" if path else "strict")
        except UnicodeDecodeError:
            raise ImageFormatError(f"{self.source}: corrupt image: {what} is not UTF-8") from None


def _parse(data: bytes, source: str) -> Image:
    """Parse and validate the bytes of an image file."""
    if len(data) < _HEADER.size + _CRC.size:
        if not data.startswith(MAGIC[: len(data)]) or not data:
            raise ImageFormatError(f"{source}: not a VL32 image (bad magic number)")
        raise ImageFormatError(
            f"{source}: truncated image: {len(data)} bytes, "
            f"shorter than the {_HEADER.size + _CRC.size}-byte minimum"
        )
    magic, version, flags, total, entry, nseg, nsym, nfile, nmap = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageFormatError(f"{source}: not a VL32 image (bad magic number {magic!r})")
    if version > FORMAT_VERSION:
        raise ImageFormatError(
            f"{source}: image format version {version} is newer than this vmlab supports "
            f"(version {FORMAT_VERSION}); upgrade vmlab"
        )
    if version not in (1, FORMAT_VERSION):
        raise ImageFormatError(f"{source}: unsupported image format version {version}")
    if len(data) < total:
        raise ImageFormatError(f"{source}: truncated image: {len(data)} of {total} bytes present")
    if len(data) > total:
        raise ImageFormatError(
            f"{source}: corrupt image: {len(data) - total} unexpected bytes after the end"
        )
    (crc,) = _CRC.unpack_from(data, total - _CRC.size)
    if zlib.crc32(data[: total - _CRC.size]) != crc:
        raise ImageFormatError(f"{source}: bad checksum: the image is corrupt")
    if flags != 0:
        raise ImageFormatError(f"{source}: corrupt image: unknown flags 0x{flags:04x}")
    r = _Reader(data, _HEADER.size, total - _CRC.size, source)
    segments = []
    for i in range(nseg):
        addr, length = r.unpack(_SEGMENT, f"segment {i} header")
        if addr + length > ADDR_LIMIT:
            raise ImageFormatError(
                f"{source}: corrupt image: segment {i} (0x{addr:08x}+{length}) "
                "runs past the 32-bit address space"
            )
        segments.append(Segment(addr, r.take(length, f"segment {i} data")))
    symbols: dict[str, int] = {}
    constants: set[str] = set()
    for i in range(nsym):
        if version == 1:
            value, length = r.unpack(_SYMBOL_V1, f"symbol {i}")
            kind = 0
        else:
            value, kind, length = r.unpack(_SYMBOL, f"symbol {i}")
            if kind > 1:
                raise ImageFormatError(f"{source}: corrupt image: symbol {i} has kind {kind}")
        raw = r.take(length, f"symbol {i} name")
        try:
            symbols[raw.decode()] = value
            if kind == 1:
                constants.add(raw.decode())
        except UnicodeDecodeError:
            raise ImageFormatError(
                f"{source}: corrupt image: symbol {i} name is not UTF-8"
            ) from None
    files = [r.name(f"source file name {i}", path=True) for i in range(nfile)]
    source_map: dict[int, tuple[str, int]] = {}
    for i in range(nmap):
        addr, findex, line = r.unpack(_MAPENTRY, f"source map entry {i}")
        if findex >= len(files):
            raise ImageFormatError(
                f"{source}: corrupt image: source map entry {i} names file {findex} "
                f"but there are {len(files)}"
            )
        source_map[addr] = (files[findex], line)
    if r.pos != r.end:
        raise ImageFormatError(
            f"{source}: corrupt image: {r.end - r.pos} unexplained bytes before the checksum"
        )
    try:
        return Image(segments, entry, symbols, source_map, frozenset(constants))
    except ValueError as exc:
        raise ImageFormatError(f"{source}: corrupt image: {exc}") from None
