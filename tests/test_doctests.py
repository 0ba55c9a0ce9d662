"""The examples in vmlab's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import vmlab

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(vmlab.__path__, "vmlab.") if m.name != "vmlab.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_the_dashboard_module_has_examples() -> None:
    from vmlab.ui import dashboard

    assert doctest.testmod(dashboard, report=False).attempted >= 4
