"""The lab dashboard: create form, VM rows, live charts, snapshots, clones, files, compare."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import vmlab
from vmlab import Hypervisor, compare, images
from vmlab.ui import Dashboard, MultiLineChart
from vmlab.ui.dashboard import CHARTS_PER_REFRESH, DASHBOARD_LEGAL, VM_ACTIONS


def dashboard(memory: str = "32M", **kwargs) -> Dashboard:
    return Dashboard(Hypervisor(host_memory=memory), autorun=False, **kwargs)


def create(d: Dashboard, name: str, image: str = "minikernel", mode: str = "hw-assist", **form):
    d.name_text.value = name
    d.image_dropdown.value = image
    d.mode_dropdown.value = mode
    for key, value in form.items():
        getattr(d, key).value = value
    d.create_button.click()
    assert d.error == "", d.error
    return d.hv.vm(name)


def enabled(d: Dashboard, name: str) -> set[str]:
    return {a for a, b in d.rows[name].buttons.items() if not b.disabled}


def run(d: Dashboard, cycles: int = 2_000_000, times: int = 1) -> None:
    for _ in range(times):
        d.hv.run(cycles=cycles)
        d.refresh()


# ---- the create form -------------------------------------------------------------------------------
def test_the_form_creates_a_vm_with_its_values() -> None:
    d = dashboard()
    vm = create(
        d,
        "web",
        image="sieve",
        mode="trap-and-emulate",
        memory_dropdown="2M",
        shares_text=3000,
        strict_checkbox=False,
    )
    assert (vm.mode, vm.memory_size, vm.shares, vm.strict) == (
        "trap-and-emulate",
        2 << 20,
        3000,
        False,
    )
    assert vm.image == images.load("sieve")
    assert vm.state == "created" and list(d.rows) == ["web"]
    assert "created VM web" in d.message
    assert d.name_text.value == "vm1", "the name box offers a free name for the next VM"


def test_a_paravirtual_vm_gets_the_paravirtualized_build() -> None:
    d = dashboard()
    vm = create(d, "pv", mode="paravirtual")
    assert vm.image == images.load("minikernel", PV=1) != images.load("minikernel")
    assert "PV=1" in d.message


def test_free_names_count_up() -> None:
    d = dashboard()
    names = []
    for _ in range(3):
        names.append(d.name_text.value)
        d.create_button.click()
    assert names == ["vm1", "vm2", "vm3"] and list(d.rows) == names


@pytest.mark.parametrize(
    ("name", "memory", "expected"),
    [
        ("", "1M", "give the new VM a name"),
        ("vm1", "1M", "vm1"),  # taken
        ("big", "16M", "host"),  # more than the host has left
    ],
)
def test_a_bad_form_is_a_message_and_creates_nothing(name: str, memory: str, expected: str) -> None:
    d = dashboard(memory="24M")
    create(d, "vm1", memory_dropdown="8M")
    before = [vm.name for vm in d.hv.vms]
    used = d.hv.metrics().memory_used
    d.name_text.value, d.memory_dropdown.value = name, memory
    d.create_button.click()
    assert d.error and expected in d.error
    assert "Traceback" not in d.error and "⚠" in d.status_html.value
    assert [vm.name for vm in d.hv.vms] == before and d.hv.metrics().memory_used == used


# ---- the VM list --------------------------------------------------------------------------------
def test_row_buttons_follow_the_legal_transitions_through_a_life() -> None:
    d = dashboard()
    vm = create(d, "a", image="hello")
    seen = []
    for action in ("start", "pause", "resume", "stop", "reset", "delete"):
        assert enabled(d, "a") == {a for a in VM_ACTIONS if vm.state in DASHBOARD_LEGAL[a]}
        seen.append(vm.state)
        d.rows["a"].buttons[action].click()
        assert d.error == "", d.error
    assert seen == ["created", "running", "paused", "running", "stopped", "created"]
    assert vm.state == "deleted" and "a" not in d.rows and d.hv.vms == []
    assert "no VMs yet" in d.vm_list.children[0].value


def test_an_illegal_click_is_a_message_naming_the_vm_and_its_state() -> None:
    d = dashboard()
    vm = create(d, "a", image="hello")
    vm.start()
    d.request(vm, "delete")
    assert d.error.startswith("VMStateError") and "'a'" in d.error and "running" in d.error
    assert vm.state == "running"
    with pytest.raises(ValueError, match="unknown action"):
        d.request(vm, "explode")


def test_the_row_shows_the_state_badge() -> None:
    d = dashboard()
    vm = create(d, "a", image="hello")
    vm.start()
    run(d)
    assert vm.state == "stopped" and ">stopped</span>" in d.rows["a"].label_html.value


def test_the_row_says_why_a_vm_stopped_or_was_paused() -> None:
    d = dashboard(memory="1M")
    vm = d.hv.create_vm("a", images.load("hello"), memory="64K")
    d.refresh()
    assert "vmlab-vm-message" not in d.rows["a"].label_html.value  # nothing to say yet
    vm.start()
    run(d)
    assert "the guest stopped (halt, exit code 0)</div>" in d.rows["a"].label_html.value
    src = d.hv.create_vm("src", images.load("sieve", N=50_000), memory="256K")
    src.start()
    d.hv.run(cycles=300_000)
    src.pause()
    src.clone("twin", linked=True)
    d.hv.create_vm("hog", images.load("hello"), memory=f"{d.hv.memory.free_frames * 4}K")
    src.resume()
    d.hv.run(cycles=1_000_000)
    d.refresh()
    assert src.state == "paused"
    assert "paused: copy-on-write for VM &#x27;src&#x27; needs 4K" in d.rows["src"].label_html.value


def test_every_click_is_acknowledged_with_a_new_sequence_number() -> None:
    d = dashboard()
    create(d, "a", image="hello")
    before = d.last_ack
    d.rows["a"].buttons["pause"].click()  # illegal: still acknowledged
    d.take_button.click()
    assert d.last_ack == before + 2
    assert f'data-ack="{before + 2}"' in d.status_html.value
    assert f"[{before + 2}]" not in d.status_html.value  # the number is for tests, not for people


def test_a_row_button_reports_what_it_did_not_a_state_that_goes_stale() -> None:
    d = dashboard()
    create(d, "a", image="hello")
    d.rows["a"].buttons["start"].click()
    assert d.message == "started VM a"
    d.hv.run(cycles=1_000_000)  # the VM stops by itself; the message stays true
    assert d.hv.vm("a").state == "stopped"
    d.rows["a"].buttons["delete"].click()
    assert d.message == "deleted VM a"


# ---- live charts --------------------------------------------------------------------------------
def test_charts_get_a_point_per_refresh_while_vms_run() -> None:
    d = dashboard()
    a = create(d, "a", mode="hw-assist")
    b = create(d, "b", mode="trap-and-emulate", shares_text=3000)
    a.start()
    b.start()
    d.refresh()
    run(d, times=4)
    for chart in (d.mips_chart, d.share_chart, d.memory_chart, d.exits_chart):
        chart.flush()
    d.overhead_chart.flush()
    assert len(d.overhead_chart.source.data["clock"]) == 4
    for name in ("a", "b"):
        assert len(d.mips_chart.series(name)[1]) == 4
        assert all(v > 0 for v in d.mips_chart.series(name)[1])
        assert len(d.share_chart.series(name)[1]) == 4
    # shares 1000 : 3000 -> entitlements 1/4 and 3/4, shown dashed beside the shares received
    assert d.share_chart.series("a entitled")[1] == pytest.approx([0.25] * 4)
    assert d.share_chart.series("b entitled")[1] == pytest.approx([0.75] * 4)
    # the guest/hypervisor/idle bands of each interval add up to the whole host
    data = d.overhead_chart.source.data
    for g, h, i in zip(data["guest"], data["hypervisor"], data["idle"], strict=True):
        assert g + h + i == pytest.approx(1.0)
        assert h > 0  # trap-and-emulate exits cost the hypervisor
    # the memory of each VM, in MiB
    assert d.memory_chart.series("a")[1][-1] == pytest.approx(a.memory_used / 2**20)
    # exits by reason: trap-and-emulate's privileged-instruction exits are there
    assert "privileged" in d.exits_chart.lines
    assert max(d.exits_chart.series("privileged")[1]) > 0


def test_the_share_chart_shows_what_each_vm_received() -> None:
    d = dashboard()
    a = create(d, "a", image="rogue")
    b = create(d, "b", image="rogue", shares_text=3000)
    a.start()
    b.start()
    d.refresh()
    run(d, cycles=4_000_000, times=3)
    d.share_chart.flush()
    got_a = d.share_chart.series("a")[1]
    got_b = d.share_chart.series("b")[1]
    for x, y in zip(got_a, got_b, strict=True):
        assert x + y == pytest.approx(1.0, abs=0.02)  # two spinning VMs use the whole host
        assert y / (x + y) == pytest.approx(0.75, abs=0.03)  # in proportion to their shares


def test_a_multiline_chart_keeps_only_the_newest_points() -> None:
    chart = MultiLineChart(rollover=50, max_rate=0)
    for i in range(500):
        chart.push(i, {"a": i, "b": -i})
    assert chart.series("a")[0] == list(map(float, range(450, 500)))
    assert len(chart.series("b")[1]) == 50


def test_a_multiline_chart_sends_all_its_lines_in_one_stream() -> None:
    chart = MultiLineChart(max_rate=0)
    from bokeh.document.events import ColumnsStreamedEvent

    for i in range(8):
        chart.add_line(f"vm{i}")
    events = []
    chart.figure.document.on_change(events.append)  # what jupyter_bokeh sends to the browser
    chart.push(1, {f"vm{i}": float(i) for i in range(8)})
    chart.push(2, {"vm3": 30.0})  # only one VM has a value: the others get a gap
    streamed = [e for e in events if isinstance(e, ColumnsStreamedEvent)]
    assert len(streamed) == 2 and set(streamed[0].data) == {"x", *chart.lines}
    assert chart.series("vm3") == ([1.0, 2.0], [3.0, 30.0])
    assert chart.series("vm0") == ([1.0], [0.0])
    chart.push(3, {"late": 1.0})  # a new line: NaN where it had no value
    assert chart.series("late") == ([3.0], [1.0])
    assert len(chart.source.data["late"]) == len(chart.source.data["x"]) == 3
    with pytest.raises(KeyError, match="no line 'nope'"):
        chart.series("nope")
    with pytest.raises(ValueError, match="x column"):
        chart.add_line("x")


def test_a_multiline_chart_throttles_and_a_group_shares_a_colour() -> None:
    now = [0.0]
    chart = MultiLineChart(max_rate=2, clock=lambda: now[0])
    assert chart.push(0, {"a": 1})
    assert not chart.push(0.1, {"a": 2}) and chart.pending == 1
    now[0] = 1.0
    assert chart.push(1, {"a": 3}) and chart.updates == 2
    assert chart.series("a")[1] == [1.0, 2.0, 3.0]
    chart.add_line("a limit", group="a", dashed=True)
    chart.add_line("b")
    colors = {r.glyph.line_color for r in chart.figure.renderers}
    assert len(colors) == 2  # "a" and "a limit" share one
    dashes = [list(r.glyph.line_dash) for r in chart.figure.renderers]
    assert dashes[0] == dashes[2] == [] and dashes[1] != []


# ---- console, snapshots, clones, files ----------------------------------------------------------------
def test_the_console_of_the_selected_vm() -> None:
    d = dashboard()
    a = create(d, "a", image="hello")
    create(d, "b", image="fib")
    assert d.selected is a  # the first VM is selected
    a.start()
    run(d)
    assert "Hello, world!" in d.console_html.value
    d.select("b")
    assert "Hello" not in d.console_html.value
    d.input_text.value = "hi"
    d.send_button.click()
    assert d.hv.vm("b").console.pending_input == b"hi\n" and "sent 3 bytes" in d.message
    assert a.console.pending_input == b"" and d.input_text.value == ""


def test_snapshot_take_restore_delete_by_clicking() -> None:
    d = dashboard()
    vm = create(d, "a", image="minikernel")
    vm.start()
    run(d)
    d.snapshot_name_text.value = "one"
    d.take_button.click()
    assert d.error == "" and "paused for it, then resumed" in d.message
    assert vm.state == "running"  # a live snapshot: paused for it, then resumed
    run(d)
    out_after_one = vm.console.output
    d.take_button.click()  # no name: a free one
    labels = [label for label, _ in d.snapshot_select.options]
    assert labels[0].startswith("one (full") and labels[1].strip().startswith("snap1 (incremental")
    assert labels[1].endswith("← current")
    d.snapshot_select.value = vm.snapshots[0]
    d.restore_button.click()
    assert d.error == "" and vm.state == "paused" and vm.current_snapshot.name == "one"
    assert len(vm.console.output) < len(out_after_one)
    d.snapshot_select.value = vm.snapshots[0]
    d.delete_snapshot_button.click()
    assert [s.name for s in vm.snapshots] == ["snap1"]
    d.snapshot_select.value = None
    d.restore_button.click()
    assert "choose a snapshot" in d.error


def test_a_restored_vm_continues_as_the_uninterrupted_one() -> None:
    d = dashboard()
    vm = create(d, "a", image="minikernel")
    vm.start()
    run(d)
    d.snapshot_name_text.value = "mid"
    d.take_button.click()
    twin = create(d, "twin", image="minikernel")
    d.select("a")
    d.hv.run(cycles=40_000_000)
    first = vm.console.output
    assert vm.state == "stopped"
    d.snapshot_select.value = vm.snapshots[0]
    d.restore_button.click()
    vm.resume()
    d.hv.run(cycles=40_000_000)
    assert vm.console.output == first and twin.state == "created"


def test_clone_linked_and_full_by_clicking() -> None:
    d = dashboard()
    vm = create(d, "a", image="sieve")
    vm.start()
    run(d)
    used = d.hv.metrics().memory_used
    d.clone_name_text.value = "linked"
    d.clone_button.click()
    assert d.error == "" and "linked (copy-on-write)" in d.message
    linked_cost = d.hv.metrics().memory_used - used
    d.linked_checkbox.value = False
    d.clone_name_text.value = "full"
    d.clone_button.click()
    full_cost = d.hv.metrics().memory_used - used - linked_cost
    assert list(d.rows) == ["a", "linked", "full"]
    assert linked_cost < full_cost  # a linked clone shares frames until written
    assert compare(d.hv.vm("linked"), d.hv.vm("full")).same


def test_export_and_import_by_clicking(tmp_path: Path) -> None:
    d = dashboard(export_dir=tmp_path)
    vm = create(d, "a", image="fib")
    vm.start()
    run(d, cycles=5_000)
    d.take_button.click()
    d.export_button.click()
    assert d.error == "" and (tmp_path / "a.vmlab").is_file()
    other = dashboard(export_dir=tmp_path)
    other.path_text.value = "a.vmlab"
    other.clone_name_text.value = "copy"
    other.import_button.click()
    assert other.error == "", other.error
    copy = other.hv.vm("copy")
    assert other.selected is copy and [s.name for s in copy.snapshots] == ["snap1"]
    assert compare(vm, copy).same


def test_importing_a_corrupt_file_is_a_message_and_adds_nothing(tmp_path: Path) -> None:
    d = dashboard(export_dir=tmp_path)
    create(d, "a", image="fib")
    d.export_button.click()
    data = bytearray((tmp_path / "a.vmlab").read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "bad.vmlab").write_bytes(bytes(data))
    d.path_text.value = "bad.vmlab"
    d.clone_name_text.value = "b"
    d.import_button.click()
    assert d.error and "bad.vmlab" in d.error and "Traceback" not in d.error
    assert [vm.name for vm in d.hv.vms] == ["a"]
    d.path_text.value = ""
    d.import_button.click()
    assert "enter the path" in d.error


# ---- compare ------------------------------------------------------------------------------------
def test_compare_two_vms_shows_the_diff_and_overlays_their_charts() -> None:
    d = dashboard()
    a = create(d, "a", mode="hw-assist")
    b = create(d, "b", mode="trap-and-emulate")
    a.start()
    b.start()
    run(d, cycles=1_000_000, times=5)
    d.compare_a.value, d.compare_b.value = a, b
    d.compare_button.click()
    assert d.error == "" and "different" in d.message
    assert "<table" in d.compare_html.value and "trap-and-emulate" in d.compare_html.value
    xa, ya = d.overlay_instructions.series("A: a")
    _, yb = d.overlay_instructions.series("B: b")
    assert ya[-1] == pytest.approx(d.hv.samples(a)[-1].instructions / 1e6)
    assert yb[-1] == pytest.approx(d.hv.samples(b)[-1].instructions / 1e6)
    clocks = {s.clock / 1e6 for s in d.hv.samples(a) + d.hv.samples(b)}
    assert set(xa) <= clocks and len(xa) >= len(d.hv.samples(a))  # held between its samples
    assert ya == sorted(ya)  # cumulative: never goes back
    n = len(xa)
    run(d, cycles=2_000_000)
    d.overlay_instructions.flush()
    assert len(d.overlay_instructions.series("A: a")[0]) > n  # live: it keeps growing
    # comparing the same two again continues the overlay (the browser redraws nothing old)
    from bokeh.document.events import ColumnDataChangedEvent

    events = []
    d.overlay_instructions.figure.document.on_change(events.append)
    n = len(d.overlay_instructions.series("A: a")[0])
    run(d, cycles=2_000_000)
    d.compare_button.click()
    d.overlay_instructions.flush()
    assert "different" in d.message
    assert not [e for e in events if isinstance(e, ColumnDataChangedEvent)]  # not redrawn
    assert len(d.overlay_instructions.series("A: a")[0]) > n  # new samples were added
    d.compare_a.value, d.compare_b.value = b, a  # another pair: drawn afresh
    d.compare_button.click()
    assert [e for e in events if isinstance(e, ColumnDataChangedEvent)]
    assert d.overlay_instructions.lines[-2:] == ("A: b", "B: a")
    assert d.overlay_instructions.series("A: a") == ([], [])


def test_compare_a_vm_with_its_snapshot() -> None:
    d = dashboard()
    vm = create(d, "a", image="fib")
    d.take_button.click()
    d.refresh()
    labels = [label for label, _ in d.compare_a.options]
    assert labels == ["VM a", "snapshot a/snap1"]
    d.compare_a.value, d.compare_b.value = vm, vm.snapshots[0]
    d.compare_button.click()
    assert "identical" in d.message
    vm.start()
    d.hv.run(cycles=10_000)
    d.compare_button.click()
    assert "different" in d.message


# ---- in the background (an asyncio event loop, as in Jupyter) ---------------------------------
def test_start_runs_every_vm_in_the_background_and_buttons_answer_meanwhile() -> None:
    async def scenario() -> tuple[Dashboard, list[float], list[str]]:
        d = Dashboard(Hypervisor(host_memory="64M"))
        for name, mode in (("a", "hw-assist"), ("b", "trap-and-emulate"), ("c", "paravirtual")):
            create(d, name, mode=mode)
            d.rows[name].buttons["start"].click()
        assert d.runner.running
        latencies, states = [], []
        await asyncio.sleep(0.3)
        for _ in range(5):  # clicks are acknowledged at once, even while slices run
            t0 = time.perf_counter()
            d.take_button.click()
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)
        d.pause_host_button.click()
        await d.runner.wait(10)
        states.append(d.runner.state)
        d.run_button.click()
        await d.runner.wait(120)
        states.append(d.runner.state)
        return d, latencies, states

    d, latencies, states = asyncio.run(scenario())
    assert states == ["paused", "finished"]
    assert all(d.hv.vm(n).state == "stopped" for n in "abc")
    assert all("power off" in d.hv.vm(n).console.output for n in "abc")
    assert len(d.hv.vm("a").snapshots) == 5 and d.error == ""
    assert len(d.mips_chart.series("a")[1]) > 2
    assert len(latencies) == 5  # timings are noisy: reported by the browser test, not asserted


def test_run_host_without_running_vms_says_so() -> None:
    async def scenario() -> Dashboard:
        d = Dashboard(Hypervisor(host_memory="16M"))
        d.run_button.click()
        return d

    d = asyncio.run(scenario())
    assert "no VM is running" in d.message and not d.runner.running


def test_vmlab_lab_is_the_dashboard_on_a_new_host() -> None:
    d = vmlab.lab(host_memory="8M", autorun=False)
    assert isinstance(d, Dashboard) and d.hv.memory.size == 8 << 20 and d.hv.vms == []
    hv = Hypervisor(host_memory="16M")
    assert vmlab.lab(hv).hv is hv


def test_the_dashboard_needs_a_hypervisor() -> None:
    with pytest.raises(TypeError, match="Hypervisor"):
        Dashboard("host")  # type: ignore[arg-type]


def test_vmlab_ui_lists_what_it_lazily_provides() -> None:
    import vmlab.ui as ui

    for name in ui.__all__:
        assert getattr(ui, name) is not None
    assert sorted(ui.__all__) == sorted(ui._WHERE)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ui.nothing  # noqa: B018


def test_in_jupyter_the_controls_come_first_and_the_charts_right_after() -> None:
    async def scenario() -> tuple[bool, Dashboard]:
        import vmlab.ui.dashboard as module

        real = module.in_kernel
        module.in_kernel = lambda: True  # as in a kernel: an event loop runs the notebook
        try:
            d = Dashboard(Hypervisor(host_memory="16M"))
        finally:
            module.in_kernel = real
        before = d.charts_ready
        create(d, "a", image="hello")  # usable before the charts exist
        await asyncio.wait_for(d.ready(), 30)
        return before, d

    before, d = asyncio.run(scenario())
    assert before is False and d.charts_ready
    assert len(d.chart_grid.children) == 5 and "a" in d.mips_chart.lines


def test_a_refresh_sends_few_charts_in_turn() -> None:
    d = dashboard()
    a = create(d, "a", mode="trap-and-emulate")
    a.start()
    d.refresh()
    charts = (*d.charts, d.overlay_instructions, d.overlay_hypervisor)
    seen = set()
    for _ in range(6):
        d.hv.run(cycles=500_000)
        before = {id(c): c.updates for c in charts}
        d.refresh()
        sent = [c for c in charts if c.updates > before[id(c)]]
        assert len(sent) <= CHARTS_PER_REFRESH  # the browser draws few charts per refresh
        seen |= {id(c) for c in sent}
    assert {id(c) for c in d.charts} <= seen  # every live chart got its turn
