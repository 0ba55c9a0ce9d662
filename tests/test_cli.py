"""The ``vmlab`` command line: every subcommand through ``main([...])``, and its error paths.

User errors must come out as a clear message on stderr and a non-zero exit status, never as a
Python traceback. One test runs the real ``python -m vmlab`` in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vmlab import Image, Machine, cli, images
from vmlab.cli import main
from vmlab.devices.memmap import SECTOR_SIZE

# Prints "tick\n" COUNT times (one word store per byte), then halts with exit code 0.
TICKS = """
        .default COUNT, 5
_start: li      s0, COUNT
        li      t0, 0xF0000000          # console TX
loop:   la      a1, text
next:   lbu     a0, 0(a1)
        beqz    a0, done
        sw      a0, 0(t0)
        addi    a1, a1, 1
        j       next
done:   addi    s0, s0, -1
        bnez    s0, loop
        li      a0, 0
        halt
text:   .asciz  "tick\\n"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write a source file under tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_one_line_error(err: str, *fragments: str) -> str:
    """stderr holds exactly one line, it mentions every fragment, and no traceback: that line."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)
    return lines[0]


# ---- vmlab run ----------------------------------------------------------------------------------
def test_run_builtin_image_prints_its_expected_output(capsys):
    assert main(["run", "hello"]) == 0
    out, err = capsys.readouterr()
    assert out == images.expected_output("hello")
    assert err == ""


def test_run_builtin_image_with_defines(capsys):
    assert main(["run", "sieve", "-D", "N=1000"]) == 0
    assert capsys.readouterr().out == "sieve: 168 primes below 1000\nOK\n"


def test_run_source_file_exits_with_the_guests_exit_code(tmp_path, capsys):
    prog = write(tmp_path, "seven.s", "_start: li a0, 7\n halt\n")
    assert main(["run", str(prog)]) == 7


def test_run_exit_code_that_does_not_fit_a_status_is_not_success(tmp_path):
    prog = write(tmp_path, "big.s", "_start: li a0, 256\n halt\n")
    assert main(["run", str(prog)]) == 1


def test_run_source_file_with_defines(tmp_path, capsys):
    prog = write(tmp_path, "ticks.s", TICKS)
    assert main(["run", str(prog), "-D", "COUNT=3"]) == 0
    assert capsys.readouterr().out == "tick\n" * 3


def test_run_image_file(tmp_path, capsys):
    src = write(tmp_path, "ticks.s", TICKS)
    img = tmp_path / "ticks.img"
    assert main(["asm", str(src), "-o", str(img)]) == 0
    capsys.readouterr()
    assert main(["run", str(img)]) == 0
    assert capsys.readouterr().out == "tick\n" * 5


def test_run_streams_output_while_the_guest_runs(tmp_path, monkeypatch):
    """With small slices the output arrives in several writes, before the guest has finished."""

    class Recorder:
        """A stdout whose byte layer records each write."""

        def __init__(self) -> None:
            self.chunks: list[bytes] = []
            self.buffer = self

        def write(self, data: bytes) -> None:
            self.chunks.append(bytes(data))

        def flush(self) -> None:
            pass

    recorder = Recorder()
    monkeypatch.setattr(cli, "RUN_SLICE", 50)
    monkeypatch.setattr(sys, "stdout", recorder)
    prog = write(tmp_path, "ticks.s", TICKS)
    assert main(["run", str(prog), "-D", "COUNT=20"]) == 0
    assert b"".join(recorder.chunks) == b"tick\n" * 20
    assert len(recorder.chunks) > 5


def test_run_fault_exits_1_with_the_fault_message(tmp_path, capsys):
    prog = write(tmp_path, "fault.s", "_start: li t0, 0x40000000\n lw a0, 0(t0)\n halt\n")
    assert main(["run", str(prog)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_line_error(err, "fault", "access fault", "0x40000000")


def test_run_budget_exhausted_exits_2(tmp_path, capsys):
    prog = write(tmp_path, "spin.s", "_start: j _start\n")
    assert main(["run", str(prog), "--max-instructions", "1000"]) == 2
    assert_one_line_error(capsys.readouterr().err, "1,000 instructions", "--max-instructions")


def test_run_budget_of_zero_runs_nothing(tmp_path, capsys):
    prog = write(tmp_path, "seven.s", "_start: li a0, 7\n halt\n")
    assert main(["run", str(prog), "--max-instructions", "0"]) == 2
    assert_one_line_error(capsys.readouterr().err, "stopped after 0 instructions")


def test_run_idle_guest_exits_2(tmp_path, capsys):
    prog = write(tmp_path, "idle.s", "_start: wfi\n halt\n")
    assert main(["run", str(prog)]) == 2
    assert_one_line_error(capsys.readouterr().err, "wfi", "idle.s:1")


def test_run_trace_prints_the_first_instructions_then_runs_on(tmp_path, capsys):
    prog = write(tmp_path, "ticks.s", TICKS)
    assert main(["run", str(prog), "--trace", "3"]) == 0
    out, err = capsys.readouterr()
    assert out == "tick\n" * 5
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("trace 0x00001000  addi s0, zero, 5")
    assert "ticks.s:3" in lines[0] and "li      s0, COUNT" in lines[0]
    assert lines[1].startswith("trace 0x00001004  lui t0, 0xf000")
    assert lines[2].startswith("trace 0x00001008  addi t0, t0, 0")


def test_run_trace_stops_at_a_halt(tmp_path, capsys):
    prog = write(tmp_path, "seven.s", "_start: li a0, 7\n halt\n")
    assert main(["run", str(prog), "--trace", "100"]) == 7
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_run_stats(tmp_path, capsys):
    prog = write(tmp_path, "ticks.s", TICKS)
    machine = Machine()
    machine.load(cli.load_program(str(prog), {}))
    machine.run()
    assert main(["run", str(prog), "--stats"]) == 0
    err = capsys.readouterr().err
    assert f"instructions  {machine.instructions:,}\n" in err
    assert f"cycles        {machine.cycles:,} (modelled)\n" in err
    for label in ("MIPS", "idle cycles", "TLB misses", "traps"):
        assert label in err


# Enters user mode and runs `csrr status` there: it traps (PRIVILEGED, 2) on a strict machine; with
# --no-strict it does not, and the `syscall` after it traps instead (SYSCALL, 9). The trap handler
# halts with the cause as the exit code.
USER_CSRR = """
_start: la      t0, handler
        csrw    tvec, t0
        la      t0, user
        csrw    epc, t0
        eret                            # to user mode (pmode is 0 after reset)
user:   csrr    a1, status
        syscall
handler:
        csrr    a0, cause
        halt
"""


@pytest.mark.parametrize(("flags", "cause"), [([], 2), (["--no-strict"], 9)])
def test_run_no_strict_lets_user_mode_read_status(tmp_path, flags, cause):
    prog = write(tmp_path, "user.s", USER_CSRR)
    assert main(["run", str(prog), *flags]) == cause


def test_run_memory_option_sets_the_ram_size(tmp_path):
    prog = write(tmp_path, "ram.s", "_start: srli a0, sp, 16\n halt\n")  # sp = top of RAM
    assert main(["run", str(prog), "--memory", "1M"]) == 16
    assert main(["run", str(prog), "--memory", "2M"]) == 32


def test_run_disk_option_attaches_the_file(tmp_path):
    prog = write(tmp_path, "disk.s", "_start: li t0, 0xF0002000\n lw a0, 0x10(t0)\n halt\n")
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(3 * SECTOR_SIZE))
    assert main(["run", str(prog)]) == 0  # no disk: 0 sectors
    assert main(["run", str(prog), "--disk", str(disk)]) == 3


def test_run_ctrl_c_stops_cleanly(tmp_path, capsys, monkeypatch):
    real_run = Machine.run
    calls = []

    def interrupted(self, max_instructions=None, max_cycles=None):
        calls.append(1)
        if len(calls) > 1:  # the first call loads the JIT core
            raise KeyboardInterrupt
        return real_run(self, max_instructions, max_cycles)

    monkeypatch.setattr(Machine, "run", interrupted)
    prog = write(tmp_path, "spin.s", "_start: j _start\n")
    assert main(["run", str(prog)]) == 130
    assert_one_line_error(capsys.readouterr().err, "interrupted after 0 instructions", "_start")


# ---- run: user errors ---------------------------------------------------------------------------
def test_run_unknown_image_name_lists_the_known_ones(capsys):
    assert main(["run", "no_such_image"]) == 1
    assert_one_line_error(capsys.readouterr().err, "'no_such_image'", "hello", "sieve")


@pytest.mark.parametrize("path", ["missing.s", "missing.img", "sub/dir/prog"])
def test_run_missing_file(tmp_path, capsys, path):
    assert main(["run", str(tmp_path / path)]) == 1
    assert_one_line_error(capsys.readouterr().err, "no such file", path.split("/")[-1])


@pytest.mark.parametrize(
    ("define", "complaint"),
    [
        ("N", "expected NAME=VALUE"),
        ("=5", "expected NAME=VALUE"),
        ("1N=5", "expected NAME=VALUE"),
        ("N=", "is not an integer"),
        ("N=ten", "is not an integer"),
    ],
)
def test_run_bad_define(capsys, define, complaint):
    assert main(["run", "hello", "-D", define]) == 1
    assert_one_line_error(capsys.readouterr().err, "bad -D", complaint)


def test_run_define_for_an_image_file_is_refused(tmp_path, capsys):
    img = tmp_path / "hello.img"
    images.load("hello").save(img)
    assert main(["run", str(img), "-D", "N=3"]) == 1
    assert_one_line_error(capsys.readouterr().err, "-D applies to assembly sources")


@pytest.mark.parametrize("memory", ["3Q", "1K", "5000"])
def test_run_bad_memory(capsys, memory):
    assert main(["run", "hello", "--memory", memory]) == 1
    assert_one_line_error(capsys.readouterr().err, "--memory", memory)


def test_run_missing_disk(tmp_path, capsys):
    assert main(["run", "hello", "--disk", str(tmp_path / "none.img")]) == 1
    assert_one_line_error(capsys.readouterr().err, "--disk", "none.img")


def test_run_image_too_big_for_the_memory(tmp_path, capsys):
    prog = write(tmp_path, "far.s", "_start: halt\n .org 0x20000\n .word 1\n")
    assert main(["run", str(prog), "--memory", "64K"]) == 1
    assert_one_line_error(capsys.readouterr().err, "does not fit")


# ---- vmlab asm ----------------------------------------------------------------------------------
def test_asm_writes_an_image_that_loads_back(tmp_path, capsys):
    src = write(tmp_path, "ticks.s", TICKS)
    out = tmp_path / "out.img"
    assert main(["asm", str(src), "-o", str(out), "-D", "COUNT=2"]) == 0
    assert "out.img" in capsys.readouterr().out
    image = Image.load(out)
    assert image.symbols["COUNT"] == 2
    assert image.entry == 0x1000


def test_asm_default_output_is_next_to_the_source(tmp_path, capsys):
    src = write(tmp_path, "ticks.s", TICKS)
    assert main(["asm", str(src)]) == 0
    assert (tmp_path / "ticks.img").is_file()


def test_asm_include_dir_and_the_shipped_library(tmp_path, capsys):
    (tmp_path / "inc").mkdir()
    write(tmp_path / "inc", "answer.s", ".equ ANSWER, 42\n")
    src = write(
        tmp_path,
        "prog.s",
        '.include "lib/vl32.s"\n.include "answer.s"\n_start: li a0, ANSWER + CON_TX\n halt\n',
    )
    out = tmp_path / "prog.img"
    assert main(["asm", str(src), "-o", str(out), "-I", str(tmp_path / "inc")]) == 0
    assert main(["run", str(out)]) == 42


def test_asm_error_shows_file_line_column_and_caret(tmp_path, capsys):
    src = write(tmp_path, "bad.s", "_start: li a0, 1\n    addx a0, a0, 1\n    halt\n")
    assert main(["asm", str(src), "-o", str(tmp_path / "bad.img")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{src}:2:5: error: unknown instruction 'addx'" in err
    assert "\n    addx a0, a0, 1\n    ^~~~\n" in err
    assert "assembly failed with 1 error" in err
    assert not (tmp_path / "bad.img").exists()


def test_asm_reports_every_error(tmp_path, capsys):
    src = write(tmp_path, "bad.s", "_start: addx a0\n lw a1, 99999(a0)\n j nowhere\n")
    assert main(["asm", str(src)]) == 1
    err = capsys.readouterr().err
    assert err.count(": error: ") == 3
    assert "bad.s:1:9:" in err and "bad.s:2:" in err and "bad.s:3:" in err


def test_run_of_a_malformed_source_shows_the_diagnostics(tmp_path, capsys):
    src = write(tmp_path, "bad.s", "_start: li a0, 70000000000\n")
    assert main(["run", str(src)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:1:" in err and "^" in err and "Traceback" not in err


def test_asm_missing_file(tmp_path, capsys):
    assert main(["asm", str(tmp_path / "nope.s")]) == 1
    assert_one_line_error(capsys.readouterr().err, "no such file", "nope.s")


def test_asm_refuses_to_overwrite_its_source(tmp_path, capsys):
    src = write(tmp_path, "prog.s", "_start: halt\n")
    assert main(["asm", str(src), "-o", str(src)]) == 1
    assert_one_line_error(capsys.readouterr().err, "overwrite")
    assert src.read_text() == "_start: halt\n"


# ---- vmlab disasm -------------------------------------------------------------------------------
@pytest.fixture
def ticks_img(tmp_path: Path) -> Path:
    """TICKS assembled into an image file."""
    path = tmp_path / "ticks.img"
    cli.load_program(str(write(tmp_path, "ticks.s", TICKS)), {}).save(path)
    return path


def test_disasm_lists_instructions_with_labels_and_source(ticks_img, capsys):
    assert main(["disasm", str(ticks_img), "--count", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "_start:" in lines
    code = [line for line in lines if line.startswith("0x")]
    assert len(code) == 2
    assert code[0].startswith("0x00001000: ") and "addi s0, zero, 5" in code[0]
    assert code[0].endswith("ticks.s:3")


def test_disasm_start_at_a_symbol_or_address(ticks_img, capsys):
    image = Image.load(ticks_img)
    assert main(["disasm", str(ticks_img), "--start", "loop", "--count", "1"]) == 0
    by_symbol = capsys.readouterr().out
    assert (
        main(["disasm", str(ticks_img), "--start", hex(image.symbol("loop")), "--count", "1"]) == 0
    )
    assert capsys.readouterr().out == by_symbol
    assert f"0x{image.symbol('loop'):08x}: " in by_symbol


def test_disasm_unknown_start(ticks_img, capsys):
    assert main(["disasm", str(ticks_img), "--start", "nowhere"]) == 1
    assert_one_line_error(capsys.readouterr().err, "--start", "nowhere")
    assert main(["disasm", str(ticks_img), "--start", "0x900000"]) == 1
    assert_one_line_error(capsys.readouterr().err, "--start", "0x00900000")


def test_disasm_corrupt_image(ticks_img, capsys):
    data = bytearray(ticks_img.read_bytes())
    data[40] ^= 0xFF
    ticks_img.write_bytes(bytes(data))
    assert main(["disasm", str(ticks_img)]) == 1
    assert_one_line_error(capsys.readouterr().err, "ticks.img", "checksum")


def test_disasm_truncated_image(ticks_img, capsys):
    ticks_img.write_bytes(ticks_img.read_bytes()[:50])
    assert main(["disasm", str(ticks_img)]) == 1
    assert_one_line_error(capsys.readouterr().err, "ticks.img", "truncated")


def test_run_of_a_file_that_is_not_an_image(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, this is not an image at all\n")
    assert main(["run", str(junk)]) == 1
    assert_one_line_error(capsys.readouterr().err, "notes.txt", "not a VL32 image")


# ---- vmlab images, help -------------------------------------------------------------------------
def test_images_lists_every_builtin_image_with_its_defaults(capsys):
    assert main(["images"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line and not line[0].isspace()]
    assert listed[: len(images.names())] == images.names()
    assert "defaults: N=1000000 PAGING=0" in out
    assert "count the primes below N" in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: vmlab" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("asm", "disasm", "run", "images", "bench"):
        assert command in out


def test_bad_option_value_is_a_usage_error(capsys):
    assert main(["run", "hello", "--max-instructions", "-5"]) == 2
    err = capsys.readouterr().err
    assert "must not be negative" in err and "Traceback" not in err


# ---- the real entry point ---------------------------------------------------------------------
def test_python_m_vmlab_run_hello_in_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "vmlab", "run", "hello"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.stdout.decode() == images.expected_output("hello")
    assert proc.returncode == 0
    assert b"Traceback" not in proc.stderr
