"""Bad input and hostile conditions at the ``vmlab`` command line: Ctrl-C at any time, closed
output streams, out-of-range options, clobbering a source, odd files, runs that never end.

Each must end in one clear line on stderr (or a clean result), a non-zero status where it is an
error, and never a Python traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, write

from vmlab import Machine, cli, cli_hv, images
from vmlab.cli import main

SPIN = "_start: j _start\n"
# Reboots itself forever: 2 to the power controller's PWR_CTRL (images/lib/vl32.s).
REBOOT = "_start: li t0, 0xF0003000\n li t1, 2\n sw t1, 0(t0)\n j _start\n"
# Counts down from 1,000,000: about 2M instructions, then halts with 0.
COUNTDOWN = "_start: li t0, 1000000\nloop: addi t0, t0, -1\n bnez t0, loop\n li a0, 0\n halt\n"


def default_sigint() -> None:
    """In the child: SIGINT at its default disposition (a background shell ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ---- 1. Ctrl-C at any moment ----------------------------------------------------------------
def interrupt_after_import(
    tmp_path: Path, module: str, command: str = "run"
) -> tuple[int, list[str]]:
    """Run ``python -m vmlab run spin.s``, send SIGINT once ``module`` is imported; (rc, stderr).

    Import times go to stderr (-X importtime), so the signal is sent at a known point, whatever
    the machine's speed; they are left out of the stderr lines returned. ``command="hv"`` runs
    the program in a VM instead (``vmlab hv a=spin.s``).
    """
    prog = write(tmp_path, "spin.s", SPIN)
    args = [str(prog)] if command == "run" else [f"a={prog}", "--cycles", str(10**12)]
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "vmlab", command, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("import time:") and line.split("|")[-1].strip() == module:
            proc.send_signal(signal.SIGINT)
            break
    try:
        rest = proc.communicate(timeout=300)[1]
    finally:
        proc.kill()
    err = [x for x in (*lines, *rest.splitlines()) if not x.startswith("import time:")]
    return proc.returncode, [x.rstrip("\n") for x in err]


def test_ctrl_c_once_the_cli_is_loaded_exits_130_with_assert_one_line_error(tmp_path):
    """The signal lands while the subcommands load, Numba loads its core, or the guest runs."""
    rc, err = interrupt_after_import(tmp_path, "vmlab.cli")
    assert not any("Traceback" in x or "Exception ignored" in x for x in err), err
    assert len(err) == 1 and err[0].startswith("vmlab: interrupted"), err
    assert rc == 130


def test_ctrl_c_while_numpy_and_numba_are_imported_exits_130_with_assert_one_line_error(tmp_path):
    """``import vmlab`` imports nothing heavy: the command catches a Ctrl-C while they load."""
    rc, err = interrupt_after_import(tmp_path, "numpy")
    assert not any("Traceback" in x for x in err), err
    assert len(err) == 1 and err[0].startswith("vmlab: interrupted"), err
    assert rc == 130


@pytest.mark.parametrize("module", ["vmlab.hypervisor.hypervisor", "vmlab.bench.runner"])
def test_ctrl_c_while_the_hypervisor_loads_exits_130_with_one_line(tmp_path, module):
    """``vmlab hv``: the signal lands while the command loads, the JIT loads, or the VM runs.

    (vmlab.bench.runner is the last module the command line imports before it runs.)
    """
    rc, err = interrupt_after_import(tmp_path, module, command="hv")
    assert not any("Traceback" in x or "Exception ignored" in x for x in err), err
    assert len(err) == 1 and err[0].startswith("vmlab: interrupted"), err
    assert rc == 130


RUNNER = """
import sys
from vmlab import Machine, cli

calls = []
real_run = Machine.run


def run(self, max_instructions=None, max_cycles=None):
    calls.append(1)
    if len(calls) == 2:  # the first loads the JIT, the second is the guest's
        exec("raise KeyboardInterrupt", {})
    return real_run(self, max_instructions, max_cycles)


Machine.run = run
raise SystemExit(cli.main(["run", sys.argv[1]]))
"""


def test_ctrl_c_inside_a_string_exec_still_exits_130_under_python_m(tmp_path):
    """CPython marks a KeyboardInterrupt that leaves ``exec(str)`` unhandled; -m then dies by SIGINT."""
    write(tmp_path, "runner.py", RUNNER)
    prog = write(tmp_path, "spin.s", SPIN)
    proc = subprocess.run(
        [sys.executable, "-m", "runner", str(prog)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=default_sigint,
    )
    assert_one_line_error(proc.stderr, "vmlab: interrupted after 0 instructions")
    assert proc.returncode == 130


def test_ctrl_c_lost_in_a_callback_still_stops_the_run(tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt raised in a weakref callback cannot propagate: Python drops it."""
    import weakref

    class Thing:
        pass

    def lose_an_interrupt(ref: object) -> None:
        raise KeyboardInterrupt

    real_run = Machine.run
    calls = []

    def run(self, max_instructions=None, max_cycles=None):
        calls.append(1)
        if len(calls) == 2:
            thing = Thing()
            ref = weakref.ref(thing, lose_an_interrupt)
            del thing  # the callback runs now; its exception goes to sys.unraisablehook
            assert ref() is None
        return real_run(self, max_instructions, max_cycles)

    monkeypatch.setattr(Machine, "run", run)
    prog = write(tmp_path, "spin.s", SPIN)
    assert main(["run", str(prog), "--max-instructions", "100000000"]) == 130
    assert_one_line_error(capsys.readouterr().err, "interrupted after", "_start")


# ---- 2. closed stdout or stderr ----------------------------------------------------------------
def test_run_with_stdout_closed_drops_the_output_and_keeps_the_exit_code(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["run", "hello"]) == 0
    assert sys.stdout is None
    assert capsys.readouterr().err == ""


def test_run_with_stderr_closed_keeps_the_exit_code_and_stdout_clean(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["run", "hello", "--stats"]) == 0
    assert capsys.readouterr().out == images.expected_output("hello")  # no stats in stdout


def test_real_closed_stdout_and_unwritable_stderr_in_a_subprocess(tmp_path):
    """``>&-`` for stdout; for stderr a descriptor open read-only (what a shell wrapper left)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vmlab", "run", "hello"],
        stderr=subprocess.PIPE,
        timeout=300,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 0
    assert b"Traceback" not in proc.stderr and proc.stderr == b""
    junk = write(tmp_path, "junk.txt", "read only\n")
    with open(junk, "rb") as read_only:
        proc = subprocess.run(
            [sys.executable, "-m", "vmlab", "run", "hello", "--stats"],
            stdout=subprocess.PIPE,
            stderr=read_only,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 0
    assert proc.stdout.decode() == images.expected_output("hello")
    assert junk.read_text() == "read only\n"


# ---- 3. --host-memory ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["16G", "99999999999G", "5G"])
def test_host_memory_above_the_maximum_is_refused(capsys, size):
    assert main(["hv", "a=hello", "--host-memory", size]) == 1
    assert_one_line_error(capsys.readouterr().err, f"--host-memory {size}", "4G")


def test_host_memory_the_computer_cannot_allocate_names_the_option(monkeypatch, capsys):
    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(cli_hv, "Hypervisor", no_memory)
    assert main(["hv", "a=hello", "--host-memory", "2G"]) == 1
    assert_one_line_error(capsys.readouterr().err, "--host-memory 2G", "cannot allocate")


# ---- 4. VM specs name the VM ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "complaint"),
    [
        ("shares=-5", "shares must be a positive integer, not -5"),
        ("mode=bogus", "unknown mode 'bogus'"),
        ("memory=0", "VM memory 0"),
        ("limit=nan", "limit must be"),
        ("reservation=2", "reservation must be"),
        ("memory=4M,memory=8M", "memory is given twice"),
        ("shares=5,shares=5", "shares is given twice"),
    ],
)
def test_a_bad_vm_option_names_the_vm(capsys, option, complaint):
    assert main(["hv", "a=hello", f"b=hello,{option}", "--cycles", "1000"]) == 1
    line = assert_one_line_error(capsys.readouterr().err, complaint)
    assert line.startswith("vmlab: VM 'b': "), line


def test_an_unknown_image_in_a_vm_spec_names_the_vm(capsys):
    assert main(["hv", "a=hello", "web=no_such_image"]) == 1
    assert_one_line_error(capsys.readouterr().err, "VM 'web': ", "'no_such_image'")


# ---- 5. -o must not clobber a source ----------------------------------------------------------
@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    """main.s, which includes lib.inc (code: so the image's source map holds it)."""
    lib = write(tmp_path, "lib.inc", "f: li a0, 3\n ret\n")
    main_s = write(tmp_path, "main.s", '.include "lib.inc"\n_start: call f\n halt\n')
    return main_s, lib


def test_asm_refuses_an_output_that_is_an_included_file(two_files, capsys):
    main_s, lib = two_files
    before = lib.read_bytes()
    assert main(["asm", str(main_s), "-o", str(lib)]) == 1
    assert_one_line_error(capsys.readouterr().err, "would overwrite", "lib.inc", "source file")
    assert lib.read_bytes() == before


def test_asm_refuses_an_output_linked_to_an_included_file(two_files, capsys):
    main_s, lib = two_files
    before = lib.read_bytes()
    link = lib.parent / "out.img"
    link.symlink_to(lib.name)
    assert main(["asm", str(main_s), "-o", str(link)]) == 1
    assert_one_line_error(capsys.readouterr().err, "would overwrite", "lib.inc")
    assert lib.read_bytes() == before


def test_asm_refuses_an_output_named_like_a_source(tmp_path, capsys):
    """An include of constants only is not in the source map; a .s name is refused anyway."""
    consts = write(tmp_path, "consts.s", ".equ ANSWER, 42\n")
    src = write(tmp_path, "prog.s", '.include "consts.s"\n_start: li a0, ANSWER\n halt\n')
    assert main(["asm", str(src), "-o", str(consts)]) == 1
    assert_one_line_error(capsys.readouterr().err, "consts.s", "named like a source")
    assert consts.read_text() == ".equ ANSWER, 42\n"


def test_asm_refuses_an_empty_output_name(tmp_path, capsys):
    src = write(tmp_path, "prog.s", "_start: halt\n")
    assert main(["asm", str(src), "-o", ""]) == 1
    assert_one_line_error(capsys.readouterr().err, "-o", "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog.s"]


# ---- 6. file names in read errors, empty names, odd files ----------------------------------------
def test_a_read_error_without_a_file_name_gets_one(tmp_path, monkeypatch, capsys):
    """A read that fails (EINVAL from /proc/self/clear_refs, say) carries no file name itself."""

    def failing_read(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    src = write(tmp_path, "wo.s", "_start: halt\n")
    monkeypatch.setattr(cli, "assemble_file", failing_read)
    assert main(["asm", str(src)]) == 1
    assert_one_line_error(capsys.readouterr().err, f"{src}: Invalid argument")
    assert main(["run", str(src)]) == 1
    assert_one_line_error(capsys.readouterr().err, f"{src}: Invalid argument")
    img = write(tmp_path, "x.img", "")
    monkeypatch.setattr(cli.Image, "load", failing_read)
    assert main(["disasm", str(img)]) == 1
    assert_one_line_error(capsys.readouterr().err, f"{img}: Invalid argument")


@pytest.mark.parametrize("command", [["run", ""], ["asm", ""], ["disasm", ""]])
def test_an_empty_file_name_is_called_empty(capsys, command):
    assert main(command) == 1
    assert_one_line_error(capsys.readouterr().err, "empty")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe (never opened by these tests: opening one would block)."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    path = tmp_path / "pipe.img"
    os.mkfifo(path)
    return path


def test_a_directory_or_a_pipe_is_not_called_missing(tmp_path, fifo, capsys):
    assert main(["run", "hello", "--disk", str(tmp_path)]) == 1
    assert_one_line_error(capsys.readouterr().err, "--disk", "is a directory")
    assert main(["run", "hello", "--disk", str(fifo)]) == 1
    assert_one_line_error(capsys.readouterr().err, "--disk", "pipe.img", "not a regular file")
    assert main(["run", str(fifo)]) == 1
    assert_one_line_error(capsys.readouterr().err, "pipe.img", "not a regular file")
    assert main(["run", "hello", "--disk", ""]) == 1
    assert_one_line_error(capsys.readouterr().err, "--disk", "empty")


# ---- 7. overhead: limits for every row ----------------------------------------------------------
def rows(out: str) -> dict[str, list[str]]:
    """The overhead table by first word of each row."""
    return {line.split()[0]: line.split() for line in out.splitlines()[1:]}


def test_overhead_applies_the_cycle_limit_to_bare_metal_too(tmp_path, capsys):
    prog = write(tmp_path, "countdown.s", COUNTDOWN)
    assert main(["overhead", str(prog), "--max-cycles", "100000"]) == 2
    out, err = capsys.readouterr()
    table = rows(out)
    assert table["bare"][2] == "limit" and table["bare"][4] == "100,000"
    for mode in ("trap-and-emulate", "binary-translation", "paravirtual", "hw-assist"):
        assert table[mode][1] == "limit" and table[mode][4] == "-", table[mode]
    assert "%" not in out
    assert_one_line_error(err, "limit", "--max-cycles 100,000")


def test_overhead_applies_the_instruction_limit_to_the_vms_too(capsys):
    assert main(["overhead", "hello", "--max-instructions", "0"]) == 2
    out, err = capsys.readouterr()
    for row in rows(out).values():
        assert "limit" in row and "0" in row and "%" not in " ".join(row), row
    assert_one_line_error(err, "--max-instructions 0")


def test_overhead_of_a_complete_run_still_shows_percentages(tmp_path, capsys):
    prog = write(tmp_path, "countdown.s", COUNTDOWN)
    assert main(["overhead", str(prog), "--modes", "hw-assist"]) == 0
    out, err = capsys.readouterr()
    table = rows(out)
    assert table["bare"][2] == "halt" and table["hw-assist"][1] == "halt"
    assert table["hw-assist"][4].endswith("%")
    assert err == ""


# ---- 8. a guest that reboots forever ------------------------------------------------------------
def test_reboots_are_reported_once_and_the_budget_counts_across_them(tmp_path, capsys):
    prog = write(tmp_path, "reboot.s", REBOOT)
    assert main(["run", str(prog), "--max-instructions", "2000", "--memory", "64K"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "vmlab: the guest rebooted; it starts again from its entry point",
        "vmlab: the guest rebooted 500 times",
        "vmlab: stopped after 2,000 instructions (--max-instructions 2000); the guest was "
        f"still running at 0x00001000 (_start, {prog}:1)",
    ]


def test_ctrl_c_after_reboots_counts_every_instruction(tmp_path, monkeypatch, capsys):
    real_run = Machine.run
    calls = []

    def run(self, max_instructions=None, max_cycles=None):
        calls.append(1)
        if len(calls) == 12:  # the JIT load, then 10 boots of 4 instructions, then this one
            raise KeyboardInterrupt
        return real_run(self, max_instructions, max_cycles)

    monkeypatch.setattr(Machine, "run", run)
    prog = write(tmp_path, "reboot.s", REBOOT)
    assert main(["run", str(prog), "--memory", "64K"]) == 130
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == f"vmlab: interrupted after 40 instructions, at 0x00001000 (_start, {prog}:1)"
    assert lines[2] == "vmlab: the guest rebooted 10 times"


# ---- 9. minor ------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", ["-1", "0x100000000"])
def test_disasm_start_outside_32_bits_is_refused(capsys, start):
    assert main(["disasm", "hello", "--start", start]) == 1
    assert_one_line_error(capsys.readouterr().err, f"--start {start}", "0xffffffff")


@pytest.mark.parametrize(
    ("argv", "usage"), [(["images", "extra"], "images"), (["bench", "--bogus"], "bench")]
)
def test_extra_arguments_show_the_subcommands_usage(capsys, argv, usage):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: vmlab {usage} ") and "unrecognized arguments" in err


def test_a_define_value_an_image_cannot_take_is_not_called_an_unknown_image(capsys):
    """images.load raised ValueError for a 70-bit value, which the CLI took for 'no such image'."""
    assert main(["run", "sieve", "-D", f"N={1 << 70}"]) == 1
    line = assert_one_line_error(capsys.readouterr().err, "sieve:", "does not fit in 64 bits")
    assert "neither a file nor a built-in image" not in line


def test_errors_in_built_in_images_show_their_path_inside_vmlab(capsys):
    """A parameter the image refuses: images/sieve.s, not where vmlab happens to be installed."""
    assert main(["run", "sieve", "-D", "N=-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("images/sieve.s:"), err
    assert str(images.images_dir()) not in err
