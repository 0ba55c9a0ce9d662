"""The pure-Python reference mode (``NUMBA_DISABLE_JIT=1``) computes what the jitted core computes.

``scenarios()`` runs a representative subset (instructions of every class with their edge cases,
traps, an interrupt and wfi, paging with the TLB, the devices, a guest-mode exit) and returns
plain data. The test runs it here (jitted) and in a subprocess with the JIT disabled and with
every warning an error (so an int64 overflow in the reference mode shows), and compares. Under
``NUMBA_DISABLE_JIT=1 pytest -m nojit`` the roles swap: the subprocess is the jitted one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import OneInstruction, PageTables, load_asm, run_asm

from vmlab import Machine, assemble
from vmlab.core import cpu
from vmlab.core.layout import P2M_V, P2M_W, ST_EXIT, ST_PC, ST_RAMSIZE, ST_VMCTL, VM_GUEST
from vmlab.devices.disk import Disk
from vmlab.isa.arch import PTE_R, PTE_W, PTE_X, ST_IE, ST_MODE, ST_PG

M32 = 0xFFFFFFFF
INT_MIN = 0x80000000

ONE = [
    ("add a0, a1, a2", M32, 1),
    ("sub a0, a1, a2", 0, 1),
    ("sra a0, a1, a2", INT_MIN, 31),
    ("srl a0, a1, a2", INT_MIN, 31),
    ("sll a0, a1, a2", 3, 33),
    ("slt a0, a1, a2", M32, 1),
    ("sltu a0, a1, a2", M32, 1),
    ("mul a0, a1, a2", M32, M32),
    ("mulh a0, a1, a2", INT_MIN, INT_MIN),
    ("mulhu a0, a1, a2", M32, M32),
    ("div a0, a1, a2", INT_MIN, M32),
    ("div a0, a1, a2", 7, 0),
    ("rem a0, a1, a2", (-7) & M32, 2),
    ("remu a0, a1, a2", 7, 0),
    ("xori a0, a1, 0xFFFF", M32, 0),
    ("slti a0, a1, -1", M32 - 1, 0),
    ("sltiu a0, a1, -1", 5, 0),
    ("srai a0, a1, 31", INT_MIN, 0),
    ("lui a0, 0xFFFF", 0, 0),
    ("lb a0, 1(a1)", 0x2000, 0),
    ("lhu a0, 2(a1)", 0x2000, 0),
    ("sb a2, 3(a1)", 0x2000, 0x1234),
    ("sh a2, 0(a1)", 0x2000, 0xABCDEF),
    ("blt a1, a2, 0x1040", M32, 0),
    ("bgeu a1, a2, 0x1040", M32, 0),
    ("jal ra, 0x1100", 0, 0),
    ("jalr ra, -4(a1)", 0x3000, 0),
]


def _summary(m: Machine) -> dict:
    return {
        "regs": list(m.regs),
        "pc": m.pc,
        "cycles": m.cycles,
        "instructions": m.instructions,
        "output": m.console.output,
        "tlb_misses": m.stats.tlb_misses,
        "idle": m.stats.idle_cycles,
        "traps": m.stats.traps_by_cause,
        "interrupts": m.stats.interrupts,
    }


def _instructions() -> list:
    out = []
    for instr, a, b in ONE:
        m = OneInstruction(instr)(mem={0x2000: bytes([0x7F, 0x80, 0xFF, 0x01])}, a1=a, a2=b)
        out.append([instr, list(m.regs), m.pc, m.cycles, m.read(0x2000, 4).hex()])
    return out


def _trap_and_fault() -> dict:
    m, res = run_asm(
        """
        _start: la t0, trap
                csrw tvec, t0
                la t0, user
                csrw epc, t0
                eret
        user:   li t0, 0x2002
                lw a0, 0(t0)            # misaligned: skipped by the handler
                .word 0xEE              # illegal: skipped
                csrr a0, status         # privileged: ends the test
        trap:   csrr t1, cause
                li t2, 2
                beq t1, t2, done
                csrr t1, epc
                addi t1, t1, 4
                csrw epc, t1
                eret
        done:   csrr a1, tval
                csrw tvec, zero
                syscall                 # no trap vector: the machine stops with a fault
        """
    )
    return {**_summary(m), "state": m.state, "result": str(res)}


def _timer_and_wfi() -> dict:
    m, res = run_asm(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0
                li t0, 3000
                csrw timecmp, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
                wfi
                li a0, 1
                halt
        trap:   csrr a1, epc
                csrr a2, cycle
                li t0, 10000
                csrw timecmp, t0
                eret
        """
    )
    return {**_summary(m), "reason": res.reason}


def _paging() -> dict:
    m = load_asm(
        f"""
        _start: li t0, 0x80000
                csrw ptbr, t0
                li t0, {ST_MODE | ST_PG}
                csrw status, t0
                li s0, 0x400000
                li t0, 5
                sw t0, 0(s0)
                lw a0, 0(s0)
                sw s2, 0(s1)            # remap without a flush
                lw a1, 0(s0)            # stale
                tlbflush
                lw a2, 0(s0)
                halt
        """
    )
    pt = PageTables(m, 0x80000)
    pt.map(0x1000, 0x1000, PTE_R | PTE_X)
    pt.map(0x80000, 0x80000, PTE_R | PTE_W, 4)
    pt.map(0x400000, 0x40000, PTE_R | PTE_W)
    m.regs["s1"] = pt.pte_addr(0x400000)
    m.regs["s2"] = 0x41000 | PTE_R | PTE_W | 1
    m.write_word(0x41000, 77)
    res = m.run()
    return {
        **_summary(m),
        "reason": res.reason,
        "pte": pt.pte(0x400000),
        "code_pte": pt.pte(0x1000),
    }


def _devices() -> dict:
    disk = Disk.from_bytes(b"from the disk")
    m = load_asm(
        """
        _start: li s0, 0xF0000000
                lw t0, 4(s0)
                sw t0, 0(s0)            # echo one input byte
                li t0, 'k'
                sw t0, 0(s0)
                li s1, 0xF0002000
                li t0, 0x8000
                sw t0, 4(s1)
                li t0, 1
                sw t0, 8(s1)            # read sector 0 to 0x8000
                lw a1, 12(s1)
                li t0, 0xF0001000
                lw a2, 0(t0)            # NOW
                li t0, 0xF0003000
                li t1, 3
                sw t1, 4(t0)
                li t1, 1
                sw t1, 0(t0)            # power off, exit code 3
        """,
        disk=disk,
    )
    m.console.feed("o")
    res = m.run()
    return {
        **_summary(m),
        "reason": res.reason,
        "exit": res.exit_code,
        "dma": m.read(0x8000, 13).hex(),
    }


def _guest_exit() -> dict:
    host = Machine(memory="128K")
    image = assemble(
        "_start: li t0, 0x3000\n li t1, 9\n sw t1, 0(t0)\n lw a0, 0(t0)\n li a0, 4\n hcall"
    )
    host.p2m = np.array([((16 + g) << 12) | P2M_V | P2M_W for g in range(16)], dtype=np.int64)
    seg = image.segments[0]
    host.write(16 * 4096 + seg.addr, seg.data)
    st = host.cpu.st
    st[ST_VMCTL] = VM_GUEST
    st[ST_RAMSIZE] = 64 * 1024
    st[ST_PC] = image.entry
    c = host.console
    reason = cpu.run(
        host.cpu.regs, st, host.mem, host.dcache, host.p2m, host.dirty,
        c.out_buffer, c.in_buffer, np.zeros(0, np.uint8), 1000, 1 << 62,
    )  # fmt: skip
    return {
        "reason": int(reason),
        "exit": [int(v) for v in st[ST_EXIT : ST_EXIT + 4]],
        "regs": [int(v) for v in host.cpu.regs[:16]],
        "dirty": [int(i) for i in np.flatnonzero(host.dirty)],
        "stored": host.read_word(19 * 4096),
    }


def scenarios() -> dict:
    """Plain-data results of the reference subset."""
    return {
        "instructions": _instructions(),
        "trap": _trap_and_fault(),
        "timer": _timer_and_wfi(),
        "paging": _paging(),
        "devices": _devices(),
        "guest": _guest_exit(),
    }


def _normalise(data):
    return json.loads(json.dumps(data))


@pytest.mark.nojit
def test_reference_mode_computes_what_the_jitted_core_computes():
    here = Path(__file__).parent
    # the other process runs the other mode (this one is jitted unless pytest itself runs
    # under NUMBA_DISABLE_JIT=1, as for `pytest -m nojit` in the reference mode)
    here_jitted = hasattr(cpu.run, "py_func")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1" if here_jitted else "0"}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import test_nojit; "
        "from vmlab.core import cpu; "
        "print(json.dumps({'jitted': hasattr(cpu.run, 'py_func'), 'results': test_nojit.scenarios()}))"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(here)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["jitted"] is not here_jitted
    reference = out["results"]
    jitted = _normalise(scenarios())
    for name in jitted:
        assert reference[name] == jitted[name], name


def test_scenarios_exercise_what_they_claim():
    # the comparison above is only as good as the scenarios: check their jitted results
    s = scenarios()
    results = {instr: regs[4] for instr, regs, *_ in s["instructions"]}
    assert results["mulh a0, a1, a2"] == 0x40000000 and results["div a0, a1, a2"] == M32
    assert s["trap"]["state"] == "fault" and "syscall" in s["trap"]["result"]
    assert s["trap"]["traps"] == {
        "misaligned load": 1,
        "illegal instruction": 1,
        "privileged instruction": 1,
    }
    assert s["timer"]["reason"] == "halt" and s["timer"]["idle"] > 2900
    assert s["timer"]["regs"][4] == 1 and s["timer"]["interrupts"] == 1
    assert s["paging"]["regs"][4:7] == [5, 5, 77] and s["paging"]["pte"] & 0x60 == 0x20
    assert s["devices"]["output"] == "ok" and s["devices"]["exit"] == 3
    assert bytes.fromhex(s["devices"]["dma"]) == b"from the disk"
    assert s["guest"]["exit"][0] == 10 and s["guest"]["exit"][2] == 4 and s["guest"]["stored"] == 9
