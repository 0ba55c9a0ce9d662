"""Bad input to the hypervisor's Python API: a clear error, raised before anything changes.

Each case was found by an audit that fed every argument wrong types and absurd values.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from vmlab import CostModel, HostMemoryError, Hypervisor, Machine, images


def hello_vm(hv: Hypervisor, name: str = "a", **kw: object):
    return hv.create_vm(name, images.load("hello"), memory="64K", **kw)


@pytest.mark.parametrize("key", [True, False, np.bool_(True), 1.5, None, [1]])
def test_a_register_key_that_is_not_a_name_or_an_index_is_refused(key: object) -> None:
    """``regs[True] = 7`` used to write every register slot (numpy's boolean index), r0 too."""
    hv = Hypervisor(host_memory="1M")
    vm = hello_vm(hv)
    before = vm.cpu.regs.copy()
    with pytest.raises(TypeError, match=r"a register is a name or an index 0\.\.15"):
        vm.regs[key] = 7  # type: ignore[index]
    with pytest.raises(TypeError, match=r"a register is a name or an index 0\.\.15"):
        vm.regs[key]  # type: ignore[index]
    assert (vm.cpu.regs == before).all()
    m = Machine(memory="64K")  # the bare machine's registers are the same class
    with pytest.raises(TypeError):
        m.regs[key] = 7  # type: ignore[index]


@pytest.mark.parametrize("value", ["x", None, 1.9, float("nan"), True])
def test_a_register_value_that_is_not_an_int_is_refused(value: object) -> None:
    hv = Hypervisor(host_memory="1M")
    vm = hello_vm(hv)
    with pytest.raises(TypeError, match="register a0 takes an int"):
        vm.regs["a0"] = value  # type: ignore[assignment]
    assert vm.regs["a0"] == 0
    vm.regs["a0"] = np.int64(5)  # numpy integers are ints
    assert vm.regs["a0"] == 5


def test_the_unsafe_flag_takes_only_a_real_bool() -> None:
    """``"False"`` used to turn the planted security bug *on* (``bool("False")``)."""
    for value in ("False", "no", 0, None):
        with pytest.raises(TypeError, match="UNSAFE_unchecked_hypercall_buffers must be True"):
            Hypervisor(host_memory="1M", UNSAFE_unchecked_hypercall_buffers=value)
    assert not Hypervisor(host_memory="1M").UNSAFE_unchecked_hypercall_buffers


def test_costs_must_be_a_cost_model() -> None:
    """``costs="x"`` used to be accepted, and the first exit crashed with an AttributeError."""
    with pytest.raises(TypeError, match="costs must be a CostModel, not str"):
        Hypervisor(host_memory="1M", costs="x")  # type: ignore[arg-type]
    assert Hypervisor(host_memory="1M", costs=CostModel(trap=5)).costs.trap == 5


def test_a_host_bigger_than_the_largest_is_refused_before_allocating() -> None:
    with pytest.raises(ValueError, match="host_memory '100G' is more than the largest host, 4G"):
        Hypervisor(host_memory="100G")


def test_run_budgets_are_not_bools() -> None:
    hv = Hypervisor(host_memory="1M")
    with pytest.raises(ValueError, match="cycles must be an integer >= 0, not True"):
        hv.run(cycles=True)
    assert hv.clock == 0


def test_a_failed_restore_leaves_a_running_vm_running() -> None:
    """The restore needs frames for pages a linked clone shares; without them nothing changes."""
    hv = Hypervisor(host_memory="1M")
    vm = hv.create_vm("a", images.load("sieve", N=3000), memory="256K")
    snap = vm.snapshot("boot")
    vm.clone("twin", linked=True)
    hog = hv.create_vm("hog", images.load("hello"), memory=f"{hv.memory.free_frames * 4}K")
    vm.start()
    with pytest.raises(HostMemoryError, match="restoring VM 'a'"):
        vm.restore(snap)
    assert vm.state == "running"
    hog.delete()
    vm.restore(snap)  # with the frames back it works
    assert vm.state == "created"


@pytest.mark.parametrize("linked", ["no", None, 1])
def test_clone_linked_must_be_a_bool(linked: object) -> None:
    """``linked="no"`` used to make a linked clone, ``None`` a full one."""
    hv = Hypervisor(host_memory="1M")
    vm = hello_vm(hv)
    with pytest.raises(TypeError, match="linked must be True or False"):
        vm.clone("b", linked=linked)  # type: ignore[arg-type]
    assert [v.name for v in hv.vms] == ["a"]


def test_series_and_samples_of_a_vm_that_is_not_the_hypervisors_are_refused() -> None:
    """They used to return empty results (and add a scheduler entry for the stranger)."""
    hv, other = Hypervisor(host_memory="1M"), Hypervisor(host_memory="1M")
    stranger = hello_vm(other)
    gone = hello_vm(hv, "gone")
    gone.delete()
    for vm in (stranger, gone):
        with pytest.raises(ValueError, match="is not a VM of this hypervisor"):
            hv.series(vm)
        with pytest.raises(ValueError, match="is not a VM of this hypervisor"):
            hv.samples(vm)
        with pytest.raises(ValueError, match="is not on this hypervisor"):
            hv.metrics(vm)
    for call in (hv.series, hv.samples, hv.metrics, lambda x: hv.set_resources(x, shares=5)):
        with pytest.raises(TypeError, match="takes a VM or a VM's name, not int"):
            call(123)
    mine = hello_vm(hv)
    with pytest.raises(TypeError, match="after must be a host cycle"):
        hv.samples(mine, after="x")  # type: ignore[arg-type]
    assert set(hv._sched) <= {mine}  # no scheduler entry for the strangers


def test_numpy_numbers_for_resources_are_stored_as_floats(tmp_path) -> None:
    """A float32 limit used to be stored as given, and an export then failed in the JSON encoder."""
    hv = Hypervisor(host_memory="1M")
    vm = hello_vm(hv, reservation=np.float32(0.25), limit=np.float64(0.75))
    assert type(vm.reservation) is float and type(vm.limit) is float
    vm.set_resources(limit=np.float32(0.5))
    assert type(vm.limit) is float and vm.limit == 0.5
    vm.export(tmp_path / "a.vmlab")
    assert Hypervisor(host_memory="1M").import_vm(tmp_path / "a.vmlab").limit == 0.5


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (" ", "empty or blank"),
        ("x" * 101, "101 characters long (at most 100)"),
        ("a\nb", "not printable"),
    ],
)
def test_vm_and_snapshot_names_are_printable_not_blank_and_not_huge(
    name: str, problem: str
) -> None:
    """A 1 MB name used to be accepted (and then printed in full by every error listing names)."""
    hv = Hypervisor(host_memory="1M")
    with pytest.raises(
        ValueError, match=f"a VM name must be .*: it is {re.escape(problem)}"
    ) as info:
        hello_vm(hv, name)
    assert len(str(info.value)) < 300
    vm = hello_vm(hv)
    with pytest.raises(ValueError, match=f"a snapshot name must be .*: it is {re.escape(problem)}"):
        vm.snapshot(name)
    assert hv.vms == [vm] and vm.snapshots == []
    assert vm.snapshot("x" * 100).name == "x" * 100  # the longest name is fine


def test_a_snapshot_of_a_namesake_on_another_hypervisor_is_named_as_such() -> None:
    """Two hosts with a VM 'a' each: the message used to say "belongs to VM 'a', not to VM 'a'"."""
    hv, other = Hypervisor(host_memory="1M"), Hypervisor(host_memory="1M")
    mine, theirs = hello_vm(hv), hello_vm(other)
    snap = theirs.snapshot("s")
    with pytest.raises(ValueError, match="belongs to another hypervisor's VM 'a', not to VM 'a'"):
        mine.restore(snap)
