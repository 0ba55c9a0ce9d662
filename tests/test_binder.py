"""Binder: the files repo2docker reads, and its install reproduced without Docker.

repo2docker ignores the root pyproject when a ``binder/`` folder exists, so
``binder/requirements.txt`` installs vmlab itself (``-e .[lab]``) from the repository root;
``binder/runtime.txt`` picks the Python; ``binder/postBuild`` warms the Numba cache. The slow test
does what repo2docker does, in a fresh virtual environment (no system site-packages; pip may use
its cache), then checks the JupyterLab extensions and runs every notebook in that environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_browser import (  # shared with the lab test
    CHROMIUM,
    CHROMIUM_FLAGS,
    IDLE,
    copy_notebooks,
    lab_server,
    require_chromium,
)

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_requirements_install_vmlab_with_the_lab_extra() -> None:
    lines = [
        line.strip()
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "-e .[lab]" in lines


def test_runtime_names_a_python_vmlab_supports() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    minor = int(runtime.split(".")[1])
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    oldest = re.fullmatch(r">=3\.(\d+)", requires)
    assert oldest is not None and minor >= int(oldest.group(1)), (runtime, requires)


def test_postbuild_is_an_executable_bash_script() -> None:
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable (chmod +x)"
    assert post.read_text().startswith("#!/usr/bin/env bash\n")


def test_the_lab_extra_and_the_runtime_dependencies_carry_the_notebook_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    for name in ("ipywidgets", "bokeh", "jupyter_bokeh"):
        assert name in deps
    assert any(d.startswith("jupyterlab") for d in project["optional-dependencies"]["lab"])


def run(cmd: list[str], env: dict[str, str], timeout: int = 1200) -> str:
    """Run a command from the repository root; fail with its output if it fails."""
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


EXECUTE_NOTEBOOKS = r"""
import sys, nbformat
from nbclient import NotebookClient
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys, vmlab; print(sys.prefix, vmlab.__file__)"))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": "notebooks"}}).execute()
    print(path, "kernel:", nb.cells[0].outputs[0].text.strip())
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                sys.exit(f"{path} cell {i}: {out.ename}: {out.evalue}")
"""


@pytest.fixture(scope="module")
def binder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """What repo2docker does, without Docker: a fresh venv, the requirements, then postBuild."""
    t0 = time.perf_counter()
    tmp = tmp_path_factory.mktemp("binder")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        VMLAB_CACHE_DIR=str(tmp / "numba-cache"),  # postBuild must fill it
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),  # no user-level kernels or extensions
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
    )
    run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            "binder/requirements.txt",
        ],
        env,
    )
    installed = time.perf_counter()
    out = run(["bash", "binder/postBuild"], env)
    assert "emulator compiled and cached" in out
    assert list((tmp / "numba-cache").rglob("*.nbi")), "postBuild left no Numba cache"
    print(
        f"\nbinder: pip install {installed - t0:.0f} s, postBuild {time.perf_counter() - installed:.0f} s"
    )
    return venv, env


@pytest.mark.slow
def test_binder_lists_the_widget_and_bokeh_lab_extensions(binder: tuple[Path, dict]) -> None:
    venv, env = binder
    listing = ANSI.sub("", run([str(venv / "bin" / "jupyter"), "labextension", "list"], env))
    for ext in ("@jupyter-widgets/jupyterlab-manager", "@bokeh/jupyter_bokeh"):
        lines = [ln for ln in listing.splitlines() if ext in ln]
        assert lines, f"{ext} is not installed:\n{listing}"
        assert "enabled" in lines[0] and "OK" in lines[0], lines[0]


@pytest.mark.slow
def test_binder_runs_every_notebook_in_its_own_kernel(binder: tuple[Path, dict]) -> None:
    venv, env = binder
    t0 = time.perf_counter()
    notebooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
    out = run([str(venv / "bin" / "python"), "-c", EXECUTE_NOTEBOOKS, *notebooks], env)
    for path in notebooks:
        assert f"{path} kernel: {venv}" in out, out
    assert f"{ROOT / 'vmlab' / '__init__.py'}" in out  # the editable install of this checkout
    print(f"\nbinder: notebooks {time.perf_counter() - t0:.0f} s")


@pytest.mark.slow
def test_binder_jupyterlab_renders_the_widgets_and_charts(
    binder: tuple[Path, dict], tmp_path: Path
) -> None:
    """Open 00-start-here in JupyterLab in Chromium, Run All: widgets and Bokeh charts render."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    venv, env = binder
    work = tmp_path / "lab"
    copy_notebooks(work)
    errors: list[str] = []
    jupyter = [str(venv / "bin" / "jupyter")]
    with lab_server(jupyter, work, env, tmp_path / "server.log") as base:
        url = f"{base}/lab/tree/00-start-here.ipynb"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_selector(IDLE, timeout=120_000)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            page.wait_for_selector(".jp-InputPrompt:has-text('[*]')", timeout=30_000)
            page.wait_for_function(
                "() => !document.querySelector('.jp-Notebook .jp-InputPrompt')"
                "  || ![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]"
                "      .some(e => e.textContent.includes('[*]'))",
                timeout=180_000,
            )
            page.wait_for_selector(IDLE, timeout=60_000)
            tracebacks = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count()
            buttons = page.locator(".jp-OutputArea .widget-button").count()
            canvases = page.locator(".jp-OutputArea canvas").count()
            started = page.locator(".jp-OutputArea :text('power off')").count()
            browser.close()
    assert not errors, errors
    assert tracebacks == 0
    assert buttons >= 10  # two VM widgets with five lifecycle buttons each
    assert canvases >= 4  # their two Bokeh charts each drew
    assert started >= 1
