"""Images survive save/load exactly, and every kind of damaged file raises ImageFormatError."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from vmlab.asm import assemble
from vmlab.image import FORMAT_VERSION, MAGIC, Image, ImageFormatError, Segment

HEADER_SIZE = 36


def sample() -> Image:
    """An image with code, data, symbols and a source map."""
    return assemble('_start: la a0, msg\nhalt\n.equ NEG, -5\n.data\nmsg: .asciz "hi"\n', "prog.s")


def reseal(data: bytes) -> bytes:
    """Fix the length field and checksum of a modified image so only the change is wrong."""
    body = bytearray(data[:-4])
    struct.pack_into("<I", body, 12, len(body) + 4)
    return bytes(body) + struct.pack("<I", zlib.crc32(body))


def write(tmp_path: Path, data: bytes) -> Path:
    """Write bytes to an image file."""
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    return path


def load_error(tmp_path: Path, data: bytes) -> str:
    """The message of the ImageFormatError raised when loading ``data`` from a file."""
    path = write(tmp_path, data)
    with pytest.raises(ImageFormatError) as info:
        Image.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), "the error must name the file"
    return message


# --- round trips ---------------------------------------------------------------------------------
def test_save_and_load_give_an_equal_image(tmp_path: Path):
    img = sample()
    img.save(tmp_path / "p.img")
    loaded = Image.load(tmp_path / "p.img")
    assert loaded == img
    assert loaded.symbols["NEG"] == -5
    assert loaded.source_map[0x1000] == ("prog.s", 1)


def test_bytes_round_trip():
    img = sample()
    assert Image.from_bytes(img.to_bytes()) == img


def test_empty_image_round_trips():
    img = Image([], entry=0)
    assert Image.from_bytes(img.to_bytes()) == img


def test_serialisation_is_deterministic():
    assert sample().to_bytes() == sample().to_bytes()


def test_header_starts_with_magic_and_version():
    data = sample().to_bytes()
    assert data[:8] == MAGIC == b"VL32IMG\0"
    assert struct.unpack_from("<H", data, 8)[0] == FORMAT_VERSION == 2


def test_save_replaces_an_existing_file_and_leaves_no_temporary(tmp_path: Path):
    path = tmp_path / "p.img"
    path.write_bytes(b"old contents")
    sample().save(path)
    assert Image.load(path) == sample()
    assert [p.name for p in tmp_path.iterdir()] == ["p.img"]


def test_save_into_a_missing_directory_fails_without_leaving_files(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        sample().save(tmp_path / "missing" / "p.img")
    assert list(tmp_path.iterdir()) == []


# --- damaged files -------------------------------------------------------------------------------
def test_wrong_magic(tmp_path: Path):
    data = b"ELF\0\0\0\0\0" + sample().to_bytes()[8:]
    assert "not a VL32 image (bad magic number" in load_error(tmp_path, data)


def test_empty_file(tmp_path: Path):
    assert "not a VL32 image" in load_error(tmp_path, b"")


def test_file_shorter_than_the_header(tmp_path: Path):
    message = load_error(tmp_path, sample().to_bytes()[:20])
    assert "truncated image: 20 bytes, shorter than the 40-byte minimum" in message


@pytest.mark.parametrize("keep", [HEADER_SIZE + 4, HEADER_SIZE + 10, -1])
def test_truncated_file(tmp_path: Path, keep: int):
    data = sample().to_bytes()
    message = load_error(tmp_path, data[:keep])
    assert f"truncated image: {len(data[:keep])} of {len(data)} bytes present" in message


def test_trailing_garbage(tmp_path: Path):
    assert "4 unexpected bytes after the end" in load_error(tmp_path, sample().to_bytes() + b"JUNK")


def test_future_version(tmp_path: Path):
    data = bytearray(sample().to_bytes())
    struct.pack_into("<H", data, 8, FORMAT_VERSION + 1)
    message = load_error(tmp_path, bytes(data))
    assert (
        f"image format version {FORMAT_VERSION + 1} is newer than this vmlab supports "
        f"(version {FORMAT_VERSION})"
    ) in message


def test_version_zero_is_unsupported(tmp_path: Path):
    data = bytearray(sample().to_bytes())
    struct.pack_into("<H", data, 8, 0)
    assert "unsupported image format version 0" in load_error(tmp_path, bytes(data))


@pytest.mark.parametrize("where", [16, HEADER_SIZE + 9, -5])
def test_flipped_bit_fails_the_checksum(tmp_path: Path, where: int):
    data = bytearray(sample().to_bytes())
    data[where] ^= 0x10
    assert "bad checksum" in load_error(tmp_path, bytes(data))


def test_overlapping_segments(tmp_path: Path):
    img = Image([Segment(0x1000, b"\1" * 8), Segment(0x2000, b"\2" * 8)])
    data = bytearray(img.to_bytes())
    second = HEADER_SIZE + 8 + 8  # header, first segment record and its data
    struct.pack_into("<I", data, second, 0x1004)
    message = load_error(tmp_path, reseal(bytes(data)))
    assert "corrupt image: segments overlap: 0x00001000..0x00001008 and 0x00001004" in message


def test_segment_count_larger_than_the_data(tmp_path: Path):
    data = bytearray(Image([Segment(0x1000, b"1234")]).to_bytes())
    struct.pack_into("<I", data, 20, 3)
    message = load_error(tmp_path, reseal(bytes(data)))
    assert "corrupt image: segment 1 header runs past the end" in message


def test_segment_past_the_address_space(tmp_path: Path):
    data = bytearray(Image([Segment(0x1000, b"1234")]).to_bytes())
    struct.pack_into("<I", data, HEADER_SIZE, 0xFFFFFFFE)
    assert "runs past the 32-bit address space" in load_error(tmp_path, reseal(bytes(data)))


def test_source_map_naming_a_missing_file(tmp_path: Path):
    img = Image([], source_map={0x1000: ("a.s", 1)})
    data = bytearray(img.to_bytes())
    struct.pack_into("<I", data, len(data) - 4 - 8, 7)  # the entry's file index
    assert "source map entry 0 names file 7 but there are 1" in load_error(tmp_path, reseal(data))


def test_unexplained_bytes_before_the_checksum(tmp_path: Path):
    data = Image([]).to_bytes()
    message = load_error(tmp_path, reseal(data[:-4] + b"\0\0" + data[-4:]))
    assert "2 unexplained bytes before the checksum" in message


def test_symbol_name_that_is_not_utf8(tmp_path: Path):
    data = bytearray(Image([], symbols={"ab": 1}).to_bytes())
    data[HEADER_SIZE + 11 : HEADER_SIZE + 13] = b"\xff\xfe"  # value (8), kind (1), length (2)
    assert "symbol 0 name is not UTF-8" in load_error(tmp_path, reseal(bytes(data)))


def test_unknown_flags(tmp_path: Path):
    data = bytearray(Image([]).to_bytes())
    struct.pack_into("<H", data, 10, 1)
    assert "unknown flags 0x0001" in load_error(tmp_path, reseal(bytes(data)))


def test_from_bytes_names_its_source():
    with pytest.raises(ImageFormatError, match=r"^upload: not a VL32 image"):
        Image.from_bytes(b"nonsense" * 10, source="upload")


# --- the Image object ----------------------------------------------------------------------------------
def test_segments_are_sorted_by_address():
    img = Image([Segment(0x2000, b"b"), Segment(0x1000, b"a")])
    assert [s.addr for s in img.segments] == [0x1000, 0x2000]


def test_constructing_overlapping_segments_is_an_error():
    with pytest.raises(ValueError, match="segments overlap"):
        Image([Segment(0x1000, b"abcd"), Segment(0x1002, b"ef")])


def test_segment_must_fit_in_the_address_space():
    with pytest.raises(ValueError, match="outside the 32-bit address space"):
        Segment(0xFFFFFFFE, b"abcd")


def test_symbol_too_large_to_save_is_an_error():
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        Image([], symbols={"BIG": 1 << 70}).to_bytes()


def test_word_at_reads_a_little_endian_word():
    img = Image([Segment(0x1000, bytes([1, 2, 3, 4, 5]))])
    assert img.word_at(0x1000) == 0x04030201
    assert img.word_at(0x1001) == 0x05040302


def test_word_at_outside_every_segment_is_an_error():
    with pytest.raises(ValueError, match="no segment holds the 4 bytes at 0x00001002"):
        Image([Segment(0x1000, b"abcd")]).word_at(0x1002)


def test_symbol_lookup_suggests_close_names():
    img = Image([], symbols={"main": 0x1000, "mainloop": 0x1010})
    assert img.symbol("main") == 0x1000
    with pytest.raises(KeyError, match="no symbol 'mian' in the image; did you mean main"):
        img.symbol("mian")


def test_size_counts_every_segment_byte():
    assert Image([Segment(0, b"ab"), Segment(8, b"cde")]).size == 5


def test_constants_are_kept_apart_from_labels():
    img = Image(
        [Segment(0x1000, b"\0" * 8)],
        symbols={"start": 0x1000, "SIZE": 0x1000},
        constants=frozenset({"SIZE"}),
    )
    back = Image.from_bytes(img.to_bytes())
    assert back.constants == {"SIZE"} and back.labels == {"start": 0x1000}


def test_version_1_files_are_still_read_with_every_symbol_a_label(tmp_path: Path):
    body = struct.pack("<II", 0x1000, 4) + b"\x5a\0\0\0" + struct.pack("<qH", 0x1000, 5) + b"start"
    total = HEADER_SIZE + len(body) + 4
    header = struct.pack("<8sHHIIIIII", MAGIC, 1, 0, total, 0x1000, 1, 1, 0, 0)
    data = header + body
    path = tmp_path / "old.img"
    path.write_bytes(data + struct.pack("<I", zlib.crc32(data)))
    img = Image.load(path)
    assert img.labels == {"start": 0x1000} and img.constants == frozenset()
    assert img.word_at(0x1000) == 0x5A


def test_a_source_path_that_is_not_utf8_survives_save_and_load(tmp_path: Path) -> None:
    """A file name the OS could not decode (surrogate escapes) is kept byte for byte."""
    name = os.fsdecode(b"caf\xe9.s")  # 'caf\udce9.s'
    image = assemble("_start: halt\n", filename=name)
    image.save(tmp_path / "a.img")
    loaded = Image.load(tmp_path / "a.img")
    assert loaded == image and loaded.source_map[0x1000] == (name, 1)
