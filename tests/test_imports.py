"""``import vmlab`` stays light: a bare Machine runs without the hypervisor, the UI or the charts.

The hypervisor's names are still ``vmlab.Hypervisor`` etc.; they are imported on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vmlab

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("vmlab.hypervisor", "vmlab.ui", "vmlab.bench", "ipywidgets", "bokeh", "jupyter_bokeh")
CHILD = """
import sys
import vmlab
from vmlab import Machine, images
m = Machine()
m.load(images.load("hello"))
assert m.run().exit_code == 0
print(" ".join(sorted(sys.modules)))
"""


def test_running_a_machine_imports_no_hypervisor_ui_or_charts() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "vmlab.machine" in out  # the child really imported this checkout's vmlab
    loaded = [name for name in out if name.split(".")[0] in {h.split(".")[0] for h in HEAVY}]
    assert [n for n in loaded if n.startswith(HEAVY)] == []


def test_hypervisor_names_are_importable_from_vmlab() -> None:
    from vmlab import VM, CostModel, Hypervisor, VMStateError, hypervisor

    assert (VM, CostModel, Hypervisor, VMStateError) == (
        hypervisor.VM,
        hypervisor.CostModel,
        hypervisor.Hypervisor,
        hypervisor.VMStateError,
    )
    assert {"VM", "CostModel", "Hypervisor", "VMStateError"} <= set(vmlab.__all__)


def test_the_errors_a_user_catches_and_disk_are_importable_from_vmlab() -> None:
    from vmlab import devices, hypervisor, image

    assert (vmlab.Disk, vmlab.ImageFormatError) == (devices.disk.Disk, image.ImageFormatError)
    assert vmlab.ExportFormatError is hypervisor.ExportFormatError
    assert vmlab.HostMemoryError is hypervisor.HostMemoryError
    assert {"Disk", "ExportFormatError", "HostMemoryError", "ImageFormatError"} <= set(
        vmlab.__all__
    )


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Hypervisr'"):
        vmlab.Hypervisr  # noqa: B018


def test_dir_lists_the_lazy_names() -> None:
    assert {"Hypervisor", "VM", "Machine"} <= set(dir(vmlab))


def test_import_vmlab_is_light_and_compare_stays_the_function() -> None:
    """``import vmlab`` loads neither numpy nor Numba (a Ctrl-C there reaches the command line's
    handler); ``vmlab.compare`` is the function even after its module was imported elsewhere."""
    code = (
        "import sys, vmlab\n"
        "assert 'numpy' not in sys.modules and 'numba' not in sys.modules, 'heavy import'\n"
        "import vmlab.ui.dashboard\n"
        "from vmlab import compare\n"
        "assert callable(compare) and vmlab.compare is compare, compare\n"
        "from vmlab.comparison import compare as real\n"
        "assert compare is real\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_public_subpackages_are_attributes_of_vmlab_after_a_bare_import() -> None:
    # ``import vmlab`` then ``vmlab.images.load(...)``, as a user types it in a fresh kernel
    child = (
        "import vmlab\n"
        "m = vmlab.Machine()\n"
        "m.load(vmlab.images.load('hello'))\n"
        "assert m.run().exit_code == 0\n"
        "assert vmlab.hypervisor.Hypervisor is vmlab.Hypervisor\n"
        "assert vmlab.isa.encode is vmlab.isa.encoding.encode\n"
        "assert vmlab.units.parse_size('1K') == 1024\n"
        "assert {'images', 'hypervisor', 'ui'} <= set(dir(vmlab))\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", child], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
