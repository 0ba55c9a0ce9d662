"""The debugger widget and the background runner, driven by clicking their buttons.

Programs are in the comments of the tests that use them; every test reads what the widget shows
(traits and rendered HTML), not only the machine underneath.
"""

from __future__ import annotations

import ast
import asyncio
import threading
from pathlib import Path

import pytest

from vmlab import Hypervisor, Machine, assemble, images
from vmlab.ui import Debugger, Runner

ROOT = Path(__file__).resolve().parents[1]

COUNTDOWN = """\
_start: li   a0, 3
        li   a1, 0
loop:   addi a0, a0, -1
        addi a1, a1, 2
        bnez a0, loop
        halt
"""
SPIN = "_start: addi a0, a0, 1\n        j _start\n"
GREETING = """\
_start: la   a1, msg
        li   t0, 0xF0000000
next:   lbu  a2, 0(a1)
        beqz a2, done
        sw   a2, 0(t0)
        addi a1, a1, 1
        j    next
done:   li   a0, 0
        halt
        .data
msg:    .asciz "hi from VL32\\n"
"""


def debugger(source: str = COUNTDOWN, memory: str = "64K") -> Debugger:
    m = Machine(memory=memory)
    m.load(assemble(source, filename="prog.s"))
    return m.debugger(sources=source)


def press(dbg: Debugger, button: str) -> None:
    getattr(dbg, f"{button}_button").click()


# ---- stepping -----------------------------------------------------------------------------------
def test_machine_debugger_returns_a_debugger_of_that_machine() -> None:
    m = Machine(memory="64K")
    m.load(assemble(COUNTDOWN))
    dbg = m.debugger()
    assert isinstance(dbg, Debugger) and dbg.machine is m


def test_step_executes_one_instruction_and_highlights_the_register_it_changed() -> None:
    dbg = debugger()  # _start: li a0, 3
    press(dbg, "step")
    assert dbg.machine.instructions == 1
    assert dbg.machine.regs["a0"] == 3
    assert dbg.changed_registers == ("a0",)
    html = dbg.registers_html.value
    assert html.count('class="vmlab-changed"') == 1
    assert '<td class="vmlab-changed"' in html and "<b>  a0</b> 00000003" in html
    assert "ran 1 instruction" in dbg.status_html.value


def test_step_n_runs_the_count_in_the_box() -> None:
    dbg = debugger()
    dbg.step_n_text.value = 4  # li, li, addi, addi
    assert dbg.step_count == 4
    press(dbg, "step_n")
    assert dbg.machine.instructions == 4
    assert set(dbg.changed_registers) == {"a0", "a1"}
    assert "4 instructions" in dbg.status_html.value


def test_the_status_line_names_the_pc_with_symbol_and_source_line() -> None:
    dbg = debugger()
    press(dbg, "step")
    press(dbg, "step")
    assert "0x00001008 (loop, prog.s:3)" in dbg.status_html.value


def test_disassembly_marks_the_pc_and_shows_the_source_line() -> None:
    dbg = debugger()
    press(dbg, "step")
    rows = dbg.disassembly_html.value.split("<tr")
    (current,) = [r for r in rows if "▶" in r]
    assert "00001004" in current and "addi a1, zero, 0" in current
    assert "prog.s:2" in current and "li   a1, 0" in current
    assert any("loop:" in r for r in rows)


def test_the_csr_view_decodes_status_and_counts() -> None:
    dbg = debugger()
    press(dbg, "step")
    html = dbg.csr_html.value
    assert "<b>status</b>" in html and "MODE" in html  # resets in kernel mode
    assert "<b>instret</b></td><td>1</td>" in html


# ---- breakpoints and continue -------------------------------------------------------------------
def test_continue_stops_at_a_breakpoint_set_by_symbol() -> None:
    dbg = debugger()
    dbg.breakpoint_text.value = "loop"
    press(dbg, "add_breakpoint")
    assert dbg.machine.breakpoints == [0x1008]
    assert "loop" in dbg.breakpoints_html.value
    press(dbg, "continue")
    assert dbg.last_reason == "breakpoint"
    assert dbg.machine.pc == 0x1008
    assert "breakpoint at 0x00001008 (loop, prog.s:3)" in dbg.status_html.value
    (row,) = [r for r in dbg.disassembly_html.value.split("<tr") if "▶" in r]
    assert "●" in row


def test_continuing_from_a_breakpoint_goes_round_the_loop_to_it_again() -> None:
    dbg = debugger()
    dbg.add_breakpoint("loop")
    press(dbg, "continue")
    press(dbg, "continue")
    assert dbg.last_reason == "breakpoint" and dbg.machine.regs["a0"] == 2
    assert set(dbg.changed_registers) == {"a0", "a1"}


def test_breakpoints_by_address_and_symbol_plus_offset() -> None:
    dbg = debugger()
    dbg.breakpoint_text.value = "0x100c"
    press(dbg, "add_breakpoint")
    dbg.breakpoint_text.value = "loop+8"
    press(dbg, "add_breakpoint")
    assert dbg.machine.breakpoints == [0x100C, 0x1010]
    assert dbg.error == ""


def test_removing_a_breakpoint_lets_the_program_run_to_its_end() -> None:
    dbg = debugger()
    dbg.add_breakpoint("loop")
    dbg.breakpoint_text.value = "loop"
    press(dbg, "remove_breakpoint")
    assert dbg.machine.breakpoints == [] and "(none)" in dbg.breakpoints_html.value
    press(dbg, "continue")
    assert dbg.last_reason == "halt"
    assert dbg.machine.regs["a1"] == 6
    assert "halt after 12 instructions, exit code 0" in dbg.status_html.value


def test_an_unknown_symbol_is_a_message_in_the_widget_not_an_exception() -> None:
    dbg = debugger()
    dbg.breakpoint_text.value = "lop"
    press(dbg, "add_breakpoint")  # must not raise
    assert dbg.error == "KeyError: no symbol 'lop' in the image; did you mean loop?"
    assert "⚠ KeyError: no symbol" in dbg.status_html.value
    assert "Traceback" not in dbg.status_html.value
    dbg.breakpoint_text.value = "loop"
    press(dbg, "add_breakpoint")
    assert dbg.error == "" and "⚠" not in dbg.status_html.value


def test_an_empty_breakpoint_box_asks_for_an_address() -> None:
    dbg = debugger()
    press(dbg, "add_breakpoint")
    assert "enter an address" in dbg.error


def test_removing_a_breakpoint_that_is_not_there_is_a_message() -> None:
    dbg = debugger()
    dbg.breakpoint_text.value = "0x1000"
    press(dbg, "remove_breakpoint")
    assert dbg.error == "KeyError: no breakpoint at 0x00001000"


def test_stepping_a_halted_machine_shows_the_librarys_message() -> None:
    dbg = debugger()
    press(dbg, "continue")
    assert dbg.machine.state == "halt"
    press(dbg, "step")  # must not raise
    assert dbg.error.startswith("MachineError: machine is stopped (halt")
    assert "call reset()" in dbg.status_html.value
    press(dbg, "continue")
    assert dbg.error.startswith("MachineError: machine is stopped")


def test_reset_starts_the_program_again() -> None:
    dbg = debugger()
    press(dbg, "continue")
    press(dbg, "reset")
    assert dbg.machine.state == "ready" and dbg.machine.pc == 0x1000
    assert "<b>ready</b>" in dbg.status_html.value and dbg.error == ""


def test_a_machine_without_a_program_says_so() -> None:
    dbg = Debugger(Machine(memory="64K"))
    assert "no program loaded" in dbg.status_html.value
    press(dbg, "continue")
    assert "no program is loaded" in dbg.error


def test_a_faulting_program_shows_the_fault() -> None:
    dbg = debugger("_start: li a0, 1\n        .word 0xffffffff\n")
    press(dbg, "continue")
    assert dbg.last_reason == "fault" and dbg.machine.state == "fault"
    assert "unhandled trap (illegal instruction" in dbg.status_html.value


# ---- memory and console -------------------------------------------------------------------------
def test_the_memory_view_shows_bytes_at_a_symbol() -> None:
    dbg = debugger(GREETING)
    dbg.memory_text.value = "msg"
    press(dbg, "memory")
    msg = dbg.machine.image.symbol("msg")
    assert dbg.memory_address == msg & ~0xF
    assert "68 69 20 66 72 6f 6d" in dbg.memory_html.value  # "hi from"
    assert "hi from VL32" in dbg.memory_html.value.replace("<", " ")


def test_the_memory_view_follows_a_register() -> None:
    dbg = debugger()
    dbg.memory_text.value = "sp"
    press(dbg, "memory")
    # sp is the top of RAM: nothing is left to show there
    assert dbg.error.startswith("ValueError: address 0x10000 is outside RAM")
    dbg.memory_text.value = "0xfff0"
    press(dbg, "memory")
    assert dbg.error == "" and dbg.memory_html.value.count("0000fff0") == 1


def test_console_output_appears_in_the_widget() -> None:
    dbg = debugger(GREETING)
    assert "(no output yet)" in dbg.console_html.value
    press(dbg, "continue")
    assert "hi from VL32" in dbg.console_html.value


def test_typed_console_input_reaches_the_guest() -> None:
    # read one byte from the console's RX register into a0 and halt with it as the exit code
    source = "_start: li t0, 0xF0000000\n        lw a0, 4(t0)\n        halt\n"
    dbg = debugger(source)
    dbg.console_text.value = "A"
    press(dbg, "console")
    press(dbg, "continue")
    assert dbg.machine.regs["a0"] == ord("A")
    assert dbg.console_text.value == ""


# ---- in the background (an asyncio event loop, as in Jupyter) ---------------------------------
def test_continue_runs_in_the_background_and_pause_stops_it() -> None:
    async def scenario() -> Debugger:
        dbg = debugger(SPIN)  # an endless loop
        press(dbg, "continue")
        assert dbg.running
        assert dbg.step_button.disabled and dbg.continue_button.disabled
        assert not dbg.pause_button.disabled
        assert "running" in dbg.status_html.value
        await asyncio.sleep(0.3)
        press(dbg, "step")  # not while running: a message
        assert "press Pause first" in dbg.error
        press(dbg, "pause")
        assert await dbg.wait(timeout=10) == "budget"
        return dbg

    dbg = asyncio.run(scenario())
    assert not dbg.running and not dbg.step_button.disabled and dbg.pause_button.disabled
    assert dbg.machine.state == "ready" and dbg.machine.regs["a0"] > 0
    assert (
        dbg.message.startswith("ran ") and dbg.runner.run_instructions == dbg.machine.instructions
    )


def test_a_breakpoint_added_while_running_stops_the_run() -> None:
    async def scenario() -> Debugger:
        dbg = debugger(SPIN)
        press(dbg, "continue")
        await asyncio.sleep(0.1)
        dbg.breakpoint_text.value = "_start"
        press(dbg, "add_breakpoint")
        await dbg.wait(timeout=10)
        return dbg

    dbg = asyncio.run(scenario())
    assert dbg.last_reason == "breakpoint" and dbg.machine.pc == 0x1000
    assert not dbg.running and dbg.error == ""
    assert dbg.machine.breakpoints == [0x1000] and "_start" in dbg.breakpoints_html.value


def test_without_an_event_loop_continue_is_bounded() -> None:
    dbg = debugger(SPIN)
    dbg.sync_limit = 100_000
    press(dbg, "continue")
    assert dbg.last_reason == "budget" and 100_000 <= dbg.machine.instructions < 300_000
    assert "no event loop" in dbg.message


# ---- the runner ---------------------------------------------------------------------------------
def spin_machine() -> Machine:
    m = Machine(memory="64K")
    m.load(assemble(SPIN))
    return m


def test_runner_steps_one_fixed_slice_at_a_time() -> None:
    m = Machine(memory="64K")
    m.load(assemble(COUNTDOWN))
    r = Runner(m, slice_size=4, adaptive=False)
    sl = r.step()
    assert (sl.instructions, sl.finished, r.state) == (4, None, "paused")
    assert sl.result is not None and sl.result.reason == "budget"
    last = r.run()
    assert last.finished == "halt" and r.state == "finished" and r.instructions == 12


def test_runner_slices_grow_while_they_are_quick() -> None:
    r = Runner(spin_machine(), slice_size=1_000, target_seconds=1.0)
    r.step()
    r.step()
    assert r.slice_size == 4_000


def test_runner_max_instructions_ends_a_run() -> None:
    r = Runner(spin_machine(), slice_size=300, adaptive=False, max_instructions=1_000)
    last = r.run()
    assert last.finished == "budget" and r.run_instructions == 1_000


def test_runner_start_needs_an_event_loop() -> None:
    with pytest.raises(RuntimeError, match="needs a running asyncio event loop"):
        Runner(spin_machine()).start()


def test_runner_rejects_other_targets_and_bad_sizes() -> None:
    with pytest.raises(TypeError, match="not str"):
        Runner("machine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slice_size must be a positive integer"):
        Runner(spin_machine(), slice_size=0)


def test_runner_pause_takes_effect_within_one_slice() -> None:
    async def scenario() -> tuple[int, int, str]:
        r = Runner(spin_machine(), slice_size=20_000, adaptive=False)
        r.start()
        for _ in range(10_000):  # until a few slices ran (the first may load the compiled core)
            await asyncio.sleep(0.001)
            if r.slices >= 3:
                break
        r.pause()
        at_pause = r.slices
        state = await r.wait(timeout=10)
        return at_pause, r.slices, state

    at_pause, after, state = asyncio.run(scenario())
    assert state == "paused" and at_pause > 0
    assert after - at_pause <= 1


def test_runner_stop_is_final() -> None:
    async def scenario() -> Runner:
        r = Runner(spin_machine())
        r.start()
        await asyncio.sleep(0.05)
        r.stop()
        await r.wait(timeout=10)
        return r

    r = asyncio.run(scenario())
    assert r.state == "stopped"
    with pytest.raises(RuntimeError, match="stopped"):
        r.step()


def test_runner_listeners_and_queued_actions_run_on_the_event_loop_thread() -> None:
    main = threading.get_ident()
    seen: list[int] = []
    between: list[bool] = []

    async def scenario() -> Runner:
        # slices of a few ms: a slice is in flight nearly all the time
        r = Runner(spin_machine(), slice_size=2_000_000, adaptive=False, update_interval=0)
        r.on_update(lambda runner: seen.append(threading.get_ident()))
        r.start()
        for _ in range(5_000):
            await asyncio.sleep(0.001)
            if r.busy:
                break
        assert r.busy
        queued = r.do(lambda: between.append(r.busy))
        r.pause()
        await r.wait(timeout=10)
        assert queued is False  # a slice was in flight: the action waited for it
        return r

    asyncio.run(scenario())
    assert seen and set(seen) == {main}
    assert between == [False]


def test_runner_goes_on_when_a_queued_action_starts_it_after_a_last_slice() -> None:
    # VM a finishes within the first slice ("nothing to run"); b is started by an action queued
    # while that slice was in flight (a Start click): the run must go on with b, not end there
    async def scenario() -> tuple[str, str, int, int]:
        hv = Hypervisor(host_memory="16M")
        a = hv.create_vm("a", images.load("hello"), memory="1M")
        b = hv.create_vm("b", images.load("rogue"), memory="1M")
        a.start()
        r = Runner(hv, slice_size=50_000_000, adaptive=False)
        r.start()
        await asyncio.sleep(0)  # the run's task starts its first slice on the worker thread
        # (however soon that slice ends, the run sees it only when this coroutine yields again)
        assert r.busy
        assert r.do(lambda: (b.start(), r.start())) is False  # queued behind the slice
        for _ in range(10_000):
            await asyncio.sleep(0.001)
            if r.slices >= 3 or not r.running:
                break
        state = r.state
        r.pause()
        await r.wait(timeout=10)
        return state, a.state, r.slices, b.stats.instructions

    state, a_state, slices, b_ran = asyncio.run(scenario())
    assert a_state == "stopped" and state == "running"
    assert slices >= 3 and b_ran > 0


def test_runner_keeps_the_error_that_ended_a_background_run() -> None:
    async def scenario() -> Runner:
        m = Machine(memory="64K")
        m.load(assemble("_start: halt"))
        m.run()
        r = Runner(m)
        r.start()
        await r.wait(timeout=10)
        return r

    r = asyncio.run(scenario())
    assert r.state == "finished" and "machine is stopped" in str(r.error)


def test_runner_runs_a_built_in_image_to_its_end() -> None:
    m = Machine()
    m.load(images.load("fib"))
    assert Runner(m).run().finished == "halt"
    assert m.console.output == images.expected_output("fib")


# ---- the UI reads models, never internals (STYLE item 8) ----------------------------------------
def ui_sources() -> list[tuple[Path, ast.Module]]:
    return [
        (p, ast.parse(p.read_text(), filename=str(p))) for p in (ROOT / "vmlab" / "ui").glob("*.py")
    ]


def test_vmlab_ui_imports_nothing_from_the_core() -> None:
    for path, tree in ui_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("vmlab.core", "..core")), f"{path.name} imports {name}"


def test_vmlab_ui_touches_no_private_attribute_of_a_model() -> None:
    for path, tree in ui_sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                owner = node.value
                assert isinstance(owner, ast.Name) and owner.id == "self", (
                    f"{path.name}:{node.lineno} reads {ast.unparse(node)}"
                )
