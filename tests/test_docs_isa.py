"""docs/isa.md is generated from the instruction table and is up to date."""

from __future__ import annotations

from pathlib import Path

from vmlab.isa import INSTRUCTIONS
from vmlab.isa.arch import CAUSE_NAMES, CSR_NAMES, REG_NAMES
from vmlab.isa.docgen import DEFAULT_PATH, main, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "isa.md"


def test_regenerating_docs_isa_changes_nothing():
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m vmlab.isa.docgen"


def test_docgen_writes_to_docs_isa_md():
    assert DEFAULT_PATH == DOC


def test_generated_file_says_so_on_its_first_line():
    first = render().splitlines()[0]
    assert "python -m vmlab.isa.docgen" in first and "Do not edit" in first


def test_every_instruction_register_csr_and_cause_is_documented():
    text = render()
    for row in INSTRUCTIONS:
        assert f"| `{row.name}` | 0x{row.opcode:02X} | {row.fmt} |" in text
    for name in REG_NAMES:
        assert f"`{name}`" in text
    for name in CSR_NAMES.values():
        assert f"| `{name}` |" in text
    for cause in CAUSE_NAMES.values():
        assert f"| {cause} |" in text


def test_check_mode_reports_a_stale_file(tmp_path: Path, capsys):
    stale = tmp_path / "isa.md"
    stale.write_text("old\n")
    assert main([str(stale), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main([str(stale)]) == 0
    assert main([str(stale), "--check"]) == 0
    assert stale.read_text() == render()
