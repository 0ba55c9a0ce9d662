"""The VM widget: lifecycle buttons per legal transition, console, live charts, errors as messages."""

from __future__ import annotations

import asyncio

import pytest

from vmlab import VM, Hypervisor, VMStateError, assemble, images
from vmlab.ui import Runner, VMWidget
from vmlab.ui.vmwidget import ACTIONS, LEGAL

STATES = ("created", "running", "paused", "stopped", "deleted")


def new_vm(image: str = "hello", mode: str = "hw-assist", name: str = "vm1", **defines: int) -> VM:
    hv = Hypervisor(host_memory="16M")
    return hv.create_vm(name, images.load(image, **defines), memory="4M", mode=mode)


def vm_in(state: str) -> VM:
    """A fresh VM brought into ``state`` through the library's own lifecycle calls."""
    vm = new_vm("minikernel")
    if state in ("running", "paused"):
        vm.start()
    if state == "paused":
        vm.pause()
    if state in ("stopped", "deleted"):
        vm.stop()
    if state == "deleted":
        vm.delete()
    assert vm.state == state
    return vm


def enabled(w: VMWidget) -> set[str]:
    return {action for action, button in w.buttons.items() if not button.disabled}


# ---- buttons follow the legal transitions ---------------------------------------------------------
@pytest.mark.parametrize("state", STATES)
def test_buttons_are_enabled_exactly_in_the_states_that_allow_them(state: str) -> None:
    w = vm_in(state).widget(autorun=False)
    assert w.state == state
    assert enabled(w) == {a for a in ACTIONS if state in LEGAL[a]}
    assert f">{state}</span>" in w.header_html.value


@pytest.mark.parametrize("state", STATES[:-1])
@pytest.mark.parametrize("action", ACTIONS)
def test_the_legal_table_agrees_with_the_library(state: str, action: str) -> None:
    vm = vm_in(state)
    if state in LEGAL[action]:
        getattr(vm, action)()
    else:
        with pytest.raises(VMStateError):
            getattr(vm, action)()


def test_vm_widget_returns_a_widget_of_that_vm() -> None:
    vm = new_vm()
    w = vm.widget()
    assert isinstance(w, VMWidget) and w.vm is vm and w.hv is vm.hv


# ---- clicking through a lifecycle ---------------------------------------------------------------
def test_start_pause_resume_stop_reset_by_clicking() -> None:
    vm = new_vm("minikernel")
    w = vm.widget(autorun=False)
    w.start_button.click()
    assert vm.state == w.state == "running" and enabled(w) == {"pause", "stop", "reset"}
    vm.hv.run(cycles=2_000_000)
    w.pause_button.click()
    assert vm.state == "paused" and enabled(w) == {"resume", "stop", "reset"}
    w.resume_button.click()
    assert vm.state == "running"
    w.stop_button.click()
    assert vm.state == "stopped" and enabled(w) == {"reset"}
    assert "stopped by the user" in w.status_html.value
    w.reset_button.click()
    assert vm.state == "created" and enabled(w) == {"start", "stop", "reset"}
    assert w.error == ""


def test_the_console_shows_what_the_guest_printed() -> None:
    vm = new_vm("hello")
    w = vm.widget(autorun=False)
    assert "(no output yet)" in w.console_html.value
    w.start_button.click()
    vm.hv.run(cycles=5_000_000)
    w.refresh()
    assert "Hello, world! This is a VL32 machine." in w.console_html.value
    assert w.state == "stopped" and "exit code 0" in w.status_html.value
    assert f"{vm.stats.instructions:,} instructions" in w.stats_html.value


def test_an_illegal_request_is_a_message_not_an_exception() -> None:
    vm = new_vm()
    w = vm.widget(autorun=False)
    w.pause_button.disabled = False  # as if the click raced a state change
    w.pause_button.click()  # must not raise
    assert w.error == (
        "VMStateError: cannot pause VM 'vm1': it is created; pause is allowed when running"
    )
    assert "⚠ VMStateError" in w.status_html.value and "Traceback" not in w.status_html.value
    w.start_button.click()
    assert w.error == "" and "⚠" not in w.status_html.value


def test_an_unknown_action_is_a_clear_error() -> None:
    w = new_vm().widget(autorun=False)
    with pytest.raises(ValueError, match="unknown action 'explode'"):
        w.request("explode")


# ---- live charts from hv.history -----------------------------------------------------------------
def test_the_cpu_chart_shows_guest_and_hypervisor_shares_from_the_history() -> None:
    vm = new_vm("minikernel", mode="trap-and-emulate")
    w = vm.widget(autorun=False)
    w.start_button.click()
    for _ in range(4):
        vm.hv.run(cycles=1_000_000)
        w.refresh()
    w.cpu_chart.flush()
    data = w.cpu_chart.source.data
    assert len(data["clock"]) >= 4
    assert data["clock"] == sorted(data["clock"])
    for guest, hyp in zip(data["guest"], data["hypervisor"], strict=True):
        assert 0 <= guest and 0 <= hyp and guest + hyp <= 1.01
    assert sum(data["hypervisor"]) > 0  # trap-and-emulate exits cost the VMM time
    samples = [s for s in vm.hv.history if s.vm == vm.name]
    assert data["clock"][-1] == samples[-1].clock / 1e6


def test_the_mips_chart_gets_a_point_per_refresh_that_saw_guest_progress() -> None:
    vm = new_vm("minikernel")
    w = vm.widget(autorun=False)
    w.mips_chart.max_rate = 0  # no throttle: each point goes straight to the chart
    w.start_button.click()
    vm.hv.run(cycles=1_000_000)
    w.refresh()
    w.refresh()  # nothing ran in between: no new point
    vm.hv.run(cycles=1_000_000)
    w.refresh()
    data = w.mips_chart.source.data
    assert len(data["mips"]) == 2 and all(v > 0 for v in data["mips"])
    assert data["clock"][0] < data["clock"][1] == vm.hv.clock / 1e6


def test_two_widgets_on_one_hypervisor_share_its_runner() -> None:
    hv = Hypervisor(host_memory="16M")
    a = hv.create_vm("a", images.load("hello"), memory="1M").widget()
    b = hv.create_vm("b", images.load("hello"), memory="1M").widget()
    assert a.runner is b.runner and isinstance(a.runner, Runner) and a.runner.target is hv


def test_a_deleted_vm_shows_its_state_with_every_button_disabled() -> None:
    vm = new_vm()
    w = vm.widget(autorun=False)
    w.stop_button.click()
    vm.delete()
    w.refresh()
    assert w.state == "deleted" and enabled(w) == set()


# ---- in the background (an asyncio event loop, as in Jupyter) ---------------------------------
def test_start_runs_the_hypervisor_in_the_background_until_the_vm_stops() -> None:
    async def scenario() -> VMWidget:
        w = new_vm("hello", mode="paravirtual").widget()
        w.start_button.click()
        assert w.runner.running
        assert await w.wait(timeout=30) == "stopped"
        return w

    w = asyncio.run(scenario())
    assert "Hello, world!" in w.console_html.value and w.state == "stopped"
    assert w.runner.state == "finished" and w.runner.last.finished == "nothing to run"


def test_pause_in_the_background_takes_effect_between_slices() -> None:
    async def scenario() -> tuple[VMWidget, int]:
        hv = Hypervisor(host_memory="16M")
        vm = hv.create_vm("spin", assemble("_start: addi a0, a0, 1\n j _start"), memory="1M")
        w = vm.widget()
        w.start_button.click()
        await asyncio.sleep(0.3)
        w.pause_button.click()  # queued while a slice is in flight, done right after it
        await w.wait(timeout=30)
        at = vm.stats.instructions
        await asyncio.sleep(0.1)
        return w, at

    w, at = asyncio.run(scenario())
    assert w.vm.state == "paused" and w.vm.stats.instructions == at > 0
    assert enabled(w) == {"resume", "stop", "reset"}
    assert w.runner.state == "finished"  # nothing left to run once the only VM paused
