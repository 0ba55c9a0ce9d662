"""The lab in a real browser: JupyterLab on 127.0.0.1, driven in Debian's Chromium by Playwright.

It opens the start-here notebook and runs every cell, then uses the dashboard as a student would:
creates two VMs through the form, starts them, sees the live charts' data grow while they run,
takes a snapshot and compares the two VMs; with four VMs running it measures how long a button
takes to answer. A second test times the dashboard's first appearance in a fresh kernel. Neither
finds an error in the browser console. Screenshots and the measured times go to
``artifacts/browser/`` (``metrics.json``); times are reported, not asserted (the host is noisy).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDLE = "text=/\\| Idle/"  # the status bar's "Python 3 (ipykernel) | Idle"
STEP = 90_000  # ms to wait for one step of the UI (generous: the CI machine may be loaded)
# points in every Bokeh data source on the page (each chart is a Bokeh document of its own)
CHART_POINTS_JS = """() => {
    let n = 0;
    for (const doc of window.Bokeh ? window.Bokeh.documents : []) {
        for (const model of doc.all_models) {
            if (model.type === "ColumnDataSource" || model.constructor.name === "ColumnDataSource") {
                const cols = [...model.data.values ? model.data.values() : Object.values(model.data)];
                if (cols.length) n += cols[0].length;
            }
        }
    }
    return n;
}"""

# in the page: when each click's reply (a new data-ack in the status line) reached the DOM, and
# when the frame after it was drawn (a task queued from the next animation frame runs after it)
WATCH_REPLIES_JS = """(status) => {
    const seen = window.vmlabReplies = {};
    new MutationObserver(() => {
        const seq = status.querySelector('[data-ack]')?.getAttribute('data-ack');
        if (seq == null || seq in seen) return;
        seen[seq] = [Date.now(), null];
        requestAnimationFrame(() => setTimeout(() => { seen[seq][1] = Date.now(); }));
    }).observe(status, {subtree: true, childList: true, attributes: true, characterData: true});
}"""

pytestmark = pytest.mark.slow


def record(name: str, value: Any) -> None:
    """Add a measurement to artifacts/browser/metrics.json (and print it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nbrowser: {name} = {value}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    """Skip where Debian's Chromium is missing (fail in CI, which installs it)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


def copy_notebooks(work: Path) -> None:
    """Copy the lab notebooks to ``work``: JupyterLab saves into its copy, never into the repo."""
    work.mkdir(parents=True, exist_ok=True)
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, work / nb.name)


@contextlib.contextmanager
def lab_server(jupyter: list[str], work: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``jupyter lab`` (the command ``jupyter``) over ``work`` on 127.0.0.1; yield its URL."""
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                *jupyter,
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.token=",
                "--ServerApp.password=",
                "--allow-root",
                f"--notebook-dir={work}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5).close()
                    break
                except OSError:
                    assert server.poll() is None, log.read_text()[-3000:]
                    assert time.monotonic() < deadline, "JupyterLab did not start in 120 s"
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on 127.0.0.1 over a copy of the notebooks (the repo is never saved)."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("lab")
    work = tmp / "notebooks"
    copy_notebooks(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),  # no user settings or workspaces
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        # the kernel imports this checkout's vmlab (not another one that pip installed)
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    with lab_server([sys.executable, "-m", "jupyter"], work, env, tmp / "server.log") as url:
        yield url, work


class Browser:
    """A Chromium page that records every console error and uncaught exception."""

    def __init__(self, playwright: Any) -> None:
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else 0,
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self, url: str) -> Any:
        self.page.goto(url + "?reset")  # a fresh workspace: only this notebook open
        self.page.wait_for_selector(IDLE, timeout=120_000)
        return self.page

    def close(self) -> None:
        self.browser.close()


@pytest.fixture()
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = Browser(p)
        try:
            yield b
        finally:
            if getattr(request.node, "failed", False):
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shot = ARTIFACTS / f"failed-{request.node.name}.png"
                b.page.screenshot(path=str(shot))
                status = b.page.locator(".vmlab-status").all_inner_texts()
                print(f"\nbrowser: screenshot of the failure: {shot}; status lines: {status}")
            b.close()


def run_all_cells(page: Any) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_selector(".jp-InputPrompt:has-text('[*]')", timeout=STEP)
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]"
        "      .some(e => e.textContent.includes('[*]'))",
        timeout=300_000,
    )
    page.wait_for_selector(IDLE, timeout=60_000)


def field(dash: Any, kind: str, label: str) -> Any:
    """The input of the dashboard's text or dropdown widget with this description."""
    tag = "input" if kind == "text" else "select"
    return dash.locator(f".widget-{kind}:has(label:text-is('{label}')) {tag}").first


def row_button(dash: Any, vm: str, action: str) -> Any:
    return dash.locator(f".vmlab-vm-row:has([data-vm='{vm}']) button.vmlab-{action}")


def create_vm(page: Any, dash: Any, name: str, image: str, mode: str) -> None:
    """Fill in the create form and press Create VM; wait for the VM's row."""
    field(dash, "text", "name").fill(name)
    field(dash, "text", "name").press("Enter")
    field(dash, "dropdown", "image").select_option(image)
    field(dash, "dropdown", "mode").select_option(mode)
    click(page, dash, "button.vmlab-create")
    page.wait_for_selector(f".vmlab-vm-row [data-vm='{name}']", timeout=STEP)


def ack(dash: Any) -> int:
    value = dash.locator(".vmlab-status [data-ack]").get_attribute("data-ack")
    return int(value or 0)


def click(page: Any, dash: Any, selector: str) -> str:
    """Click a dashboard button; wait until its action has run; return the status line."""
    seq = ack(dash) + 1
    dash.locator(selector).click()
    page.wait_for_selector(f".vmlab-status [data-ack='{seq}'][data-done='1']", timeout=STEP)
    return dash.locator(".vmlab-status").inner_text()


def test_start_here_then_the_dashboard_by_clicking(
    jupyterlab: tuple[str, Path], browser: Browser
) -> None:
    base, _ = jupyterlab
    page = browser.open(f"{base}/lab/tree/00-start-here.ipynb")
    t0 = time.perf_counter()
    run_all_cells(page)
    record("00-start-here run all, s", round(time.perf_counter() - t0, 1))
    errors_in_cells = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count()
    tracebacks = page.locator(".jp-RenderedText[data-mime-type*='error']").count()
    assert errors_in_cells == 0 and tracebacks == 0, "a cell of 00-start-here failed"

    dash = page.locator(".vmlab-dashboard").first
    dash.scroll_into_view_if_needed()
    # two VMs through the form: a small OS and a guest that never stops (so they run a while)
    create_vm(page, dash, "alpha", "minikernel", "hw-assist")
    create_vm(page, dash, "beta", "rogue", "trap-and-emulate")
    assert "created VM beta" in dash.locator(".vmlab-status").inner_text()
    before = page.evaluate(CHART_POINTS_JS)
    row_button(dash, "alpha", "start").click()
    row_button(dash, "beta", "start").click()
    page.wait_for_selector(
        ".vmlab-vm-row:has([data-vm='beta']) .vmlab-state:text-is('running')", timeout=STEP
    )
    grown = [page.evaluate(CHART_POINTS_JS)]
    for _ in range(3):  # the charts keep getting points while the VMs run
        page.wait_for_timeout(1200)
        grown.append(page.evaluate(CHART_POINTS_JS))
    record("chart points while two VMs run", grown)
    assert grown[0] >= before and grown[-1] > grown[0] and grown[2] > grown[1]
    dash.locator(".widget-gridbox").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    assert dash.locator("canvas").count() >= 5  # the five live charts drew

    # a snapshot of beta while it runs (paused for it, then resumed)
    field(dash, "dropdown", "VM").select_option("beta")
    field(dash, "text", "snapshot").fill("mid-run")
    field(dash, "text", "snapshot").press("Enter")
    assert "snapshot mid-run of VM beta" in click(page, dash, "button.vmlab-take")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.vmlab-dashboard select option')]"
        ".some(o => o.textContent.replace(/\\s/g, ' ').includes('mid-run (full'))",
        timeout=STEP,
    )

    # compare the two VMs
    field(dash, "dropdown", "A").select_option("VM alpha")
    field(dash, "dropdown", "B").select_option("VM beta")
    assert "compared VM 'alpha' with VM 'beta'" in click(page, dash, "button.vmlab-compare")
    result = dash.locator(".vmlab-compare-result").inner_text()
    assert "trap-and-emulate" in result and "hw-assist" in result

    # four VMs running: how long from a click to its handler in the kernel, and to its reply?
    for name, mode in (
        ("gamma", "binary-translation"),
        ("delta", "hw-assist"),
        ("eps", "paravirtual"),
    ):
        create_vm(page, dash, name, "rogue", mode)
        row_button(dash, name, "start").click()
        page.wait_for_selector(
            f".vmlab-vm-row:has([data-vm='{name}']) .vmlab-state:text-is('running')", timeout=STEP
        )
    running = dash.locator(".vmlab-state:text-is('running')").count()
    assert running == 4  # beta, gamma, delta, eps (alpha's small OS powered itself off)
    to_handler, round_trip, clicks = [], [], {}
    button = dash.locator("button.vmlab-compare").element_handle()
    page.evaluate(WATCH_REPLIES_JS, dash.locator(".vmlab-status").element_handle())
    for _ in range(30):
        seq = ack(dash)
        t0 = time.perf_counter()
        clicked = page.evaluate("(b) => { const t = Date.now(); b.click(); return t; }", button)
        page.wait_for_selector(
            f".vmlab-status [data-ack='{seq + 1}']", state="attached", timeout=STEP
        )
        round_trip.append((time.perf_counter() - t0) * 1000)
        # data-t: the kernel's wall clock (ms) when the handler ran; same machine, same clock
        handled = int(dash.locator(".vmlab-status [data-ack]").get_attribute("data-t") or 0)
        to_handler.append(handled - clicked)
        clicks[str(seq + 1)] = clicked
        page.wait_for_timeout(200)
    # the same replies timed in the page (no Playwright round trips): to the DOM, to the frame
    page.wait_for_function(
        "(seqs) => seqs.every(s => (window.vmlabReplies[s] || [])[1])", arg=list(clicks)
    )
    replies = page.evaluate("() => window.vmlabReplies")
    in_dom = [replies[seq][0] - t for seq, t in clicks.items() if seq in replies]
    drawn = [replies[seq][1] - t for seq, t in clicks.items() if replies.get(seq, [0, None])[1]]
    assert len(in_dom) == len(clicks) and len(drawn) == len(clicks)
    for name, values in (
        ("click to handler", to_handler),
        ("click to reply shown", round_trip),
        ("click to reply in the DOM, in-page clock", in_dom),
        ("click to reply drawn (next frame), in-page clock", drawn),
    ):
        values.sort()
        record(
            f"{name}, ms, {running} VMs running (p50, p95, max of {len(values)})",
            [
                round(statistics.median(values)),
                round(values[int(0.95 * len(values)) - 1]),
                round(values[-1]),
            ],
        )
    t0 = time.perf_counter()
    row_button(dash, "beta", "pause").click()
    page.wait_for_selector(
        ".vmlab-vm-row:has([data-vm='beta']) .vmlab-state:text-is('paused')", timeout=STEP
    )
    record("pause click to paused badge ms", round((time.perf_counter() - t0) * 1000, 1))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=False)
    dash.screenshot(path=str(ARTIFACTS / "dashboard-full.png"))
    for name in ("beta", "gamma", "delta", "eps"):
        row_button(dash, name, "stop").click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.vmlab-state')]"
        ".some(e => e.textContent === 'running')",
        timeout=STEP,
    )
    assert not browser.errors, browser.errors


def test_the_dashboard_appears_quickly_in_a_fresh_kernel(
    jupyterlab: tuple[str, Path], browser: Browser
) -> None:
    base, work = jupyterlab
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import vmlab\nlab = vmlab.lab()\nlab")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, work / "first-use.ipynb")
    page = browser.open(f"{base}/lab/tree/first-use.ipynb")
    page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .jp-InputArea-editor"
    ).first.click()
    t0 = time.perf_counter()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".vmlab-dashboard button.vmlab-create", timeout=60_000)
    shown = time.perf_counter() - t0
    page.wait_for_function(
        "() => window.Bokeh && window.Bokeh.documents.length >= 7", timeout=60_000
    )
    charts = time.perf_counter() - t0
    record("dashboard shown after running its cell, s (fresh kernel, warm cache)", round(shown, 2))
    record("dashboard charts ready after running its cell, s", round(charts, 2))
    page.locator(".vmlab-dashboard").first.screenshot(path=str(ARTIFACTS / "first-use.png"))
    assert page.locator(".vmlab-dashboard .vmlab-status").count() == 1
    assert not browser.errors, browser.errors
