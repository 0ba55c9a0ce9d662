"""`vmlab hv` and `vmlab overhead`: VMs on a hypervisor from the shell."""

from __future__ import annotations

import re

import pytest

from vmlab.cli import main
from vmlab.cli_hv import SpecError, parse_vm_spec


def test_a_vm_spec_names_the_image_and_its_options() -> None:
    name, image, kw = parse_vm_spec("web=sieve,mode=trap-and-emulate,memory=2M,shares=500,strict=0")
    assert (name, image) == ("web", "sieve")
    assert kw == {"mode": "trap-and-emulate", "memory": 2 << 20, "shares": 500, "strict": False}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sieve", "is not NAME=IMAGE"),
        ("a=sieve,colour=red", "'colour=red' is not one of"),
        ("a=sieve,shares=many", "bad value for shares: 'many'"),
        ("a=sieve,strict=maybe", "bad value for strict"),
    ],
)
def test_a_bad_vm_spec_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_vm_spec(spec)


def test_hv_runs_vms_together_and_prints_each_console_and_a_table(capsys) -> None:
    code = main(
        [
            "hv",
            "a=sieve,mode=hw-assist",
            "b=fib,mode=trap-and-emulate,memory=1M",
            "-D",
            "N=12",
            "--cycles",
            "50000000",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "== a (hw-assist): stopped" in out and "== b (trap-and-emulate): stopped" in out
    assert "primes below 12" in out and "fib(12)" in out
    assert "instructions" in err and "cpu share" in err


def test_hv_runs_vms_side_by_side_on_several_cpus(capsys) -> None:
    args = ["hv", "a=rogue,mode=hw-assist", "b=rogue,mode=hw-assist", "--cycles", "4000000"]
    assert main([*args, "--cpus", "2"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"host: 4,000,\d{3} cycles, 2 CPUs, idle 0 ---", err)
    assert [float(x) for x in re.findall(r"(\d+\.\d)%", err)] == [100.0, 100.0]  # a CPU each
    assert main(args) == 0
    shares = [float(x) for x in re.findall(r"(\d+\.\d)%", capsys.readouterr().err)]
    assert shares == pytest.approx([50.0, 50.0], abs=1.0)  # one CPU: half each
    assert main([*args, "--cpus", "0"]) == 1
    assert "cpus must be an integer from 1 to" in capsys.readouterr().err


def test_hv_reports_bad_input_in_one_line_without_a_traceback(capsys) -> None:
    assert main(["hv", "a=sieve,mode=warp"]) == 1
    err = capsys.readouterr().err
    assert "unknown mode 'warp'" in err and "Traceback" not in err
    assert main(["hv", "a=sieve,memory=512M", "--host-memory", "16M"]) == 1
    assert "needs 512M but the host has only" in capsys.readouterr().err


def test_overhead_compares_every_technique_with_bare_metal(capsys) -> None:
    assert main(["overhead", "sieve", "-D", "N=5000"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(lines) == {
        "bare",
        "trap-and-emulate",
        "binary-translation",
        "paravirtual",
        "hw-assist",
    }
    for mode in ("trap-and-emulate", "hw-assist"):
        assert " halt " in lines[mode] and "%" in lines[mode]
