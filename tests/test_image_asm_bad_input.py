"""Bad input to Image, images.load, the assembler and the disassembler is refused up front.

Each error names the argument or field at fault (never a struct error, an AttributeError from
deep inside, or a failure later, after the bad value was accepted), and good input of a slightly
different type (a numpy integer, a pathlib.Path, one include directory) just works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vmlab import images
from vmlab.asm import AssembleError, assemble, assemble_file, disassemble, disassemble_word
from vmlab.image import Image, Segment

HALT = b"\x5a\x00\x00\x00"


def code() -> list[Segment]:
    """One segment holding a halt at 0x1000."""
    return [Segment(0x1000, HALT)]


def messages(exc: pytest.ExceptionInfo[AssembleError]) -> list[str]:
    """The message of every diagnostic of an AssembleError."""
    return [d.message for d in exc.value.diagnostics]


# --- 1. Image and Segment check their fields ----------------------------------------------------
def test_image_refuses_a_symbol_value_that_is_not_an_int() -> None:
    with pytest.raises(TypeError, match=r"Image symbol '_start' must be an int, not str"):
        Image(code(), entry=0x1000, symbols={"_start": "0x1000"})
    with pytest.raises(TypeError, match=r"Image symbol names must be str, not int"):
        Image(code(), symbols={1: 2})


def test_image_refuses_an_entry_point_that_is_not_an_int() -> None:
    with pytest.raises(TypeError, match=r"Image entry must be an int, not float"):
        Image(code(), entry=4096.5)
    with pytest.raises(TypeError, match=r"Image entry must be an int, not bool"):
        Image(code(), entry=True)


def test_image_refuses_raw_bytes_or_tuples_instead_of_segments() -> None:
    with pytest.raises(TypeError, match=r"segments must be a list of Segment objects, not bytes"):
        Image(HALT)
    with pytest.raises(TypeError, match=r"Image segments\[0\] must be a Segment, not tuple"):
        Image([(0x1000, HALT)])


def test_segment_refuses_an_int_as_data_and_a_non_int_address() -> None:
    with pytest.raises(TypeError, match=r"Segment data must be bytes-like .*, not int"):
        Segment(0, 5)  # bytes(5) would be five zero bytes
    with pytest.raises(TypeError, match=r"Segment data must be bytes-like .*, not list"):
        Segment(0, [1, 2])
    with pytest.raises(TypeError, match=r"Segment addr must be an int, not float"):
        Segment(1.5, b"x")
    with pytest.raises(TypeError, match=r"Segment addr must be an int, not bool"):
        Segment(True, b"x")
    assert Segment(0, bytearray(b"ab")).data == b"ab"


def test_image_refuses_a_name_too_long_for_the_file_format() -> None:
    with pytest.raises(ValueError, match=r"70000 bytes long in UTF-8; .* at most 65535 bytes"):
        Image(code(), symbols={"a" * 70_000: 1})


def test_image_refuses_source_map_entries_of_the_wrong_shape() -> None:
    with pytest.raises(TypeError, match=r"source_map\[0x00001000\] must be a \(file, line\) pair"):
        Image(code(), source_map={0x1000: "x.s"})
    with pytest.raises(ValueError, match=r"source_map\[0x00001000\] line -1 is outside"):
        Image(code(), source_map={0x1000: ("x.s", -1)})
    with pytest.raises(TypeError, match=r"source_map\[0x00001000\] file must be a str"):
        Image(code(), source_map={0x1000: (Path("x.s"), 1)})


def test_image_stores_numpy_integers_as_python_ints() -> None:
    img = Image(
        [Segment(np.uint32(0x1000), HALT)],
        entry=np.uint32(0x1000),
        symbols={"_start": np.int64(0x1000)},
        source_map={np.uint32(0x1000): ("p.s", np.int32(1))},
    )
    assert type(img.entry) is int and type(img.segments[0].addr) is int
    assert type(img.symbols["_start"]) is int
    assert [type(v) for v in (*img.source_map, img.source_map[0x1000][1])] == [int, int]
    assert Image.from_bytes(img.to_bytes()) == img


def test_to_bytes_checks_fields_changed_after_construction() -> None:
    img = Image(code(), entry=0x1000)
    img.entry = 1.5  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"Image entry must be an int, not float"):
        img.to_bytes()
    with pytest.raises(TypeError, match=r"Image.from_bytes data must be bytes-like .*, not int"):
        Image.from_bytes(5)  # type: ignore[arg-type]


def test_a_symbol_too_large_for_an_image_is_an_assembly_error_at_its_line() -> None:
    with pytest.raises(AssembleError) as exc:
        assemble("halt\n.equ HUGE, (1 << 64) * (1 << 64)\n", "p.s")
    (diag,) = exc.value.diagnostics
    assert diag.line == 2 and "value of 'HUGE'" in diag.message and "64 bits" in diag.message


# --- 2. images.load: defines must be the image's parameters, values in range --------------------
def test_load_refuses_a_define_the_image_does_not_have() -> None:
    with pytest.raises(AssembleError) as exc:
        images.load("sieve", n=10)
    (message,) = messages(exc)
    assert message.startswith("no parameter 'n' (did you mean 'N'?)")
    assert message.endswith("the program's parameters (its .default names) are N, PAGING")
    with pytest.raises(AssembleError, match=r"no parameter 'NOPE'"):
        images.load("sieve", NOPE=5)
    with pytest.raises(AssembleError, match=r"no parameter 'N': the program has none"):
        images.load("hello", N=1)
    # what the repository passes stays accepted: parameters, and PV=1 for any image
    assert images.load("sieve", N=100, PAGING=1).symbols["N"] == 100
    assert images.load("minikernel", PV=1).symbols["PV"] == 1
    assert images.load("sieve", PV=1).segments == images.load("sieve").segments


def test_guests_refuse_sizes_they_cannot_handle() -> None:
    refused = {
        ("fib", -5): "N must be 0..47",  # used to run forever
        ("fib", 48): "N must be 0..47",
        ("sieve", -1): "N must be 0..0x40000000",  # used to fault
        ("matmul", 0): "N must be 1..8191",  # used to fault after 16.7M instructions
        ("sort", -1): "N must be 0..0x10000000",
    }
    for (name, n), complaint in refused.items():
        with pytest.raises(AssembleError) as exc:
            images.load(name, N=n)
        assert any(m.startswith(complaint) for m in messages(exc)), (name, n, messages(exc))
    with pytest.raises(AssembleError, match=r"QUANTUM must be 1000\.\."):
        images.load("minikernel", QUANTUM=0)
    with pytest.raises(AssembleError, match=r"PING_EVERY must be at least 1"):
        images.load("minikernel", PING_EVERY=0)
    for name, n in (("fib", 0), ("fib", 47), ("sieve", 0), ("matmul", 1), ("sort", 0)):
        assert images.load(name, N=n).symbols["N"] == n


def test_error_directive_reports_its_message_at_its_line() -> None:
    source = '.default N, 5\n.if N < 1\n  .error "N must be at least 1"\n.endif\nhalt\n'
    assert assemble(source).symbols["N"] == 5
    with pytest.raises(AssembleError) as exc:
        assemble(source, "p.s", defines={"N": 0})
    (diag,) = exc.value.diagnostics
    assert (diag.file, diag.line, diag.column, diag.message) == (
        "p.s",
        3,
        3,
        "N must be at least 1",
    )


def test_define_values_may_be_numpy_integers_but_not_bools() -> None:
    assert images.load("fib", N=np.int64(10)) == images.load("fib", N=10)
    assert assemble("li a0, N", defines={"N": np.uint8(3)}).symbols["N"] == 3
    with pytest.raises(TypeError, match=r"define N=True must be an int, not bool"):
        images.load("fib", N=True)


# --- 3. images.load returns a copy ---------------------------------------------------------------
def test_load_returns_an_independent_copy_each_time() -> None:
    first = images.load("hello")
    entry = first.entry
    first.entry = 0x2000
    first.symbols["extra"] = 1
    first.source_map.clear()
    again = images.load("hello")
    assert again.entry == entry and "extra" not in again.symbols and again.source_map


# --- 4. assemble and assemble_file name a bad argument ---------------------------------------------
def test_assemble_refuses_source_that_is_not_text() -> None:
    with pytest.raises(TypeError, match=r"source must be a str .* not bytes \(decode it first"):
        assemble(b"halt")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"source must be a str of assembly text, not NoneType"):
        assemble(None)  # type: ignore[arg-type]


def test_one_include_dir_may_be_given_as_a_single_path(tmp_path: Path) -> None:
    (tmp_path / "inc.s").write_text(".equ ANSWER, 42\n")
    source = '.include "inc.s"\nli a0, ANSWER\n'
    assert assemble(source, include_dirs=str(tmp_path)).symbols["ANSWER"] == 42
    assert assemble(source, include_dirs=tmp_path).symbols["ANSWER"] == 42
    with pytest.raises(TypeError, match=r"include_dirs must be a directory or a list .* not int"):
        assemble(source, include_dirs=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"include_dirs\[1\] must be a file name"):
        assemble(source, include_dirs=[tmp_path, None])  # type: ignore[list-item]


def test_a_path_filename_is_kept_as_a_str_and_the_image_saves(tmp_path: Path) -> None:
    img = assemble("_start: halt\n", filename=Path("x.s"))
    assert img.source_map == {0x1000: ("x.s", 1)}
    img.save(tmp_path / "x.img")
    assert Image.load(tmp_path / "x.img") == img
    with pytest.raises(TypeError, match=r"filename must be a file name .* not NoneType"):
        assemble("halt", filename=None)  # type: ignore[arg-type]


def test_defines_must_be_a_mapping_of_names_to_ints() -> None:
    with pytest.raises(TypeError, match=r"defines must be a mapping of name -> int .* not list"):
        assemble("li a0, N", defines=[("N", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"defines: value of 'N' must be an int, got 1.5"):
        assemble("li a0, N", defines={"N": 1.5})  # type: ignore[dict-item]


def test_assemble_file_names_what_is_wrong_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"the assembly source file's name is empty"):
        assemble_file("")
    with pytest.raises(IsADirectoryError, match=r"is a directory, not an assembly source file"):
        assemble_file(tmp_path)
    with pytest.raises(TypeError, match=r"the assembly source file's path must be a file name"):
        assemble_file(None)  # type: ignore[arg-type]
    src = tmp_path / "p.s"
    src.write_text("_start: halt\n")
    assert assemble_file(bytes(src)).source_map == {0x1000: (str(src), 1)}
    src.write_bytes(b"halt # caf\xe9\n")
    with pytest.raises(AssembleError, match=r"p.s:1:11: error: the file is not UTF-8"):
        assemble_file(src)


def test_a_leading_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    assert assemble("\ufeff_start: halt\n").word_at(0x1000) == 0x5A
    (tmp_path / "inc.s").write_bytes(b"\xef\xbb\xbf.equ ANSWER, 42\n")
    src = tmp_path / "main.s"
    src.write_bytes(b'\xef\xbb\xbf.include "inc.s"\n_start: li a0, ANSWER\n halt\n')
    img = assemble_file(src)
    assert img.symbols["ANSWER"] == 42 and img.source_map[0x1000] == (str(src), 2)


# --- 5. the disassembler checks words, data, addresses and counts --------------------------------
def test_disassemble_word_takes_numpy_words_from_memory() -> None:
    mem = np.frombuffer(bytes.fromhex("20040500") + HALT, dtype=np.uint32)
    assert [disassemble_word(w) for w in mem] == ["addi a0, zero, 5", "halt"]


def test_disassemble_word_refuses_what_is_not_a_32_bit_word() -> None:
    for word in (True, 1.5, "0x5a", None):
        with pytest.raises(TypeError, match=r"disassemble_word: the word must be an int"):
            disassemble_word(word)  # type: ignore[arg-type]
    for word in (-1, 1 << 32):
        with pytest.raises(ValueError, match=r"is not a 32-bit word"):
            disassemble_word(word)
    with pytest.raises(ValueError, match=r"disassemble_word: pc -0x4 is outside the 32-bit"):
        disassemble_word(0x5A, pc=-4)


def test_disassemble_refuses_data_that_is_not_bytes() -> None:
    for data in (5, "halt", [0x5A, 0, 0, 0], None):
        with pytest.raises(TypeError, match=r"disassemble needs an Image or bytes-like data"):
            disassemble(data)  # type: ignore[arg-type]
    assert disassemble(np.frombuffer(HALT, np.uint32), 0x1000) == ["0x00001000: 5a 00 00 00  halt"]


def test_disassemble_count_must_be_a_non_negative_int() -> None:
    img = assemble("nop\nnop\nhalt\n")
    with pytest.raises(ValueError, match=r"disassemble: count must be >= 0"):
        disassemble(img, count=-1)
    for count in (1.5, True, "2"):
        with pytest.raises(TypeError, match=r"disassemble: count must be an int"):
            disassemble(img, count=count)  # type: ignore[arg-type]
    assert len(disassemble(img, count=np.int64(2))) == 2


def test_disassemble_addr_must_be_a_32_bit_address() -> None:
    img = assemble("halt\n")
    with pytest.raises(ValueError, match=r"disassemble: addr -0x4 is outside the 32-bit"):
        disassemble(img, -4)
    with pytest.raises(TypeError, match=r"disassemble: addr must be an int, not float"):
        disassemble(HALT, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"4 bytes at 0xffffffff run past the end"):
        disassemble(HALT, 0xFFFFFFFF)
