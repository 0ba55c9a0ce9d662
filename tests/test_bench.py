"""The benchmark: its native programs give the guests' answers, and its report is complete.

No test here checks a speed: the machine is noisy, so speed goals live in the benchmark output.
"""

from __future__ import annotations

import json
import re

import pytest

from vmlab import Machine, images
from vmlab.bench import TARGETS, BenchError, Settings, format_report, natives, run_benchmark
from vmlab.bench.runner import _targets_met
from vmlab.cli import main

WORKLOADS = ("sieve", "sieve_paging", "matmul", "minikernel")
WITH_NATIVE = ("sieve", "sieve_paging", "matmul")
ENTRY_NUMBERS = (
    "instructions",
    "cycles",
    "emulated_seconds",
    "mips",
    "python_instructions",
    "python_seconds",
    "python_mips",
    "jit_prefix_seconds",
    "jit_prefix_mips",
    "speedup_vs_python",
)
NATIVE_NUMBERS = ("native_seconds", "slowdown_vs_native")


def guest_output(name: str, **defines: int) -> str:
    """Console output of a built-in image run to completion (it must exit with code 0)."""
    machine = Machine()
    machine.load(images.load(name, **defines))
    result = machine.run(max_instructions=100_000_000)
    assert result.exit_code == 0, result
    return machine.console.output


# ---- natives ------------------------------------------------------------------------------------
def test_native_sieve_gives_the_expected_output_of_sieve_s():
    n = images.load("sieve").symbols["N"]
    first = images.expected_output("sieve").splitlines()[0]
    assert first == f"sieve: {natives.sieve(n)} primes below {n}"


def test_native_matmul_gives_the_expected_output_of_matmul_s():
    image = images.load("matmul")
    n, seed = image.symbols["N"], image.symbols["SEED"]
    h, total, cheap = natives.matmul(n, seed)
    first = images.expected_output("matmul").splitlines()[0]
    assert first == f"matmul: {n}x{n}, checksum 0x{h:08x}, sum {total}"
    assert cheap == total


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 11, 97, 1000, 12345])
def test_native_sieve_agrees_with_the_guest_at_other_sizes(n):
    expected = sum(1 for k in range(2, n) if all(k % d for d in range(2, int(k**0.5) + 1)))
    assert natives.sieve(n) == expected
    assert f"sieve: {expected} primes below {n}\n" in guest_output("sieve", N=n)


@pytest.mark.parametrize(("n", "seed"), [(1, 1), (3, 7), (17, 2024), (24, 99)])
def test_native_matmul_agrees_with_the_guest_at_other_sizes(n, seed):
    h, total, cheap = natives.matmul(n, seed)
    assert cheap == total
    line = f"matmul: {n}x{n}, checksum 0x{h:08x}, sum {total}\n"
    assert line in guest_output("matmul", N=n, SEED=seed)


def test_native_matmul_wraps_like_a_32_bit_register():
    h, total, _ = natives.matmul(40, 5)
    assert 0 <= h < 1 << 32
    assert -(1 << 31) <= total < 1 << 31


# ---- the report ---------------------------------------------------------------------------------
def fake_report(**changes: float) -> dict:
    """A complete report with made-up figures (``changes`` override some of them)."""
    workloads = {}
    for key in WORKLOADS:
        entry = {
            "title": key.replace("_paging", "+paging"),
            "image": key.split("_")[0],
            "defines": {},
            "size": {"N": 1000} if key != "minikernel" else {},
            **dict.fromkeys(ENTRY_NUMBERS, 1.0),
            "mips": 200.0,
            "python_mips": 0.5,
            "speedup_vs_python": 400.0,
        }
        if key in WITH_NATIVE:
            entry.update(native_seconds=0.001, slowdown_vs_native=10.0)
        workloads[key] = entry
    report = {
        "vmlab": "0",
        "python": "3",
        "numba": "0",
        "cpus": 2,
        "quick": False,
        "repeats": 5,
        "targets": dict(TARGETS),
        "workloads": workloads,
        "warm_start_seconds": changes.pop("warm_start_seconds", 0.5),
        "cold_compile_seconds": 12.0,
    }
    for key, value in changes.items():
        workload, field = key.split("__")
        workloads[workload][field] = value
    report["met"] = _targets_met(report)
    return report


def test_report_says_ok_when_every_target_is_met():
    text = format_report(fake_report())
    assert text.endswith("all targets met")
    assert "MISSED" not in text
    for title in ("sieve", "sieve+paging", "matmul", "minikernel"):
        assert re.search(rf"^  {re.escape(title)} ", text, re.MULTILINE)


@pytest.mark.parametrize(
    ("changes", "missed"),
    [
        ({"sieve__slowdown_vs_native": 20.5}, "sieve.slowdown_vs_native"),
        ({"sieve_paging__slowdown_vs_native": 31.0}, "sieve_paging.slowdown_vs_native"),
        ({"minikernel__speedup_vs_python": 99.0}, "minikernel.speedup_vs_python"),
        ({"warm_start_seconds": 1.5}, "warm_start_seconds"),
    ],
)
def test_report_names_each_missed_target(changes, missed):
    report = fake_report(**changes)
    assert [name for name, ok in report["met"].items() if not ok] == [missed]
    text = format_report(report)
    assert "MISSED" in text
    assert text.endswith(f"targets missed: {missed}")


def test_matmul_against_native_has_no_target():
    report = fake_report(matmul__slowdown_vs_native=500.0)
    assert all(report["met"].values())


def test_a_wrong_guest_answer_stops_the_benchmark(monkeypatch):
    monkeypatch.setattr(natives, "sieve", lambda n: 12345)
    with pytest.raises(BenchError, match="differs from the native one"):
        run_benchmark(Settings.quick())


# ---- the whole benchmark, quick -----------------------------------------------------------------
@pytest.mark.slow
def test_vmlab_bench_quick_json_reports_every_figure(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["quick"] is True
    assert set(report["workloads"]) == set(WORKLOADS)
    for key, entry in report["workloads"].items():
        for field in ENTRY_NUMBERS + (NATIVE_NUMBERS if key in WITH_NATIVE else ()):
            assert isinstance(entry[field], (int, float)) and entry[field] > 0, (key, field)
        if key not in WITH_NATIVE:
            assert not set(NATIVE_NUMBERS) & set(entry)
    assert report["workloads"]["sieve"]["size"] == {"N": 100_000}
    assert report["workloads"]["sieve_paging"]["size"] == {"N": 100_000, "PAGING": 1}
    # paging on executes the same sieve plus the page-table setup
    assert (
        report["workloads"]["sieve_paging"]["instructions"]
        > report["workloads"]["sieve"]["instructions"]
    )
    for key in ("cold_compile_seconds", "warm_start_seconds"):
        assert report[key] > 0
    assert report["targets"] == TARGETS
    assert all(isinstance(ok, bool) for ok in report["met"].values())
    assert "bench: cold JIT compile" in err  # progress goes to stderr, the JSON alone to stdout
    assert "guest MIPS" in format_report(report)
