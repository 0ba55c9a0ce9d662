"""The guest programs shipped with vmlab (``images/*.s``): find them, assemble them, compare output.

Each image is a bare-metal VL32 assembly program with a ``_start`` label. Its parameters are
the names its ``.default`` lines give and can be overridden per load, e.g.
``load("sieve", N=1000, PAGING=1)``; a name the image does not have is an error listing the ones
it has (so a misspelt ``n=1000`` is not silently ignored), except ``PV``: the CLI and the dashboard
ask every image they run in paravirtual mode for its paravirtual build with ``PV=1``, and an image
without one ignores it. An image checks its own values where a bad one would make it misbehave
(``.if N < 0`` ... ``.error "..."``), so a value out of range is an AssembleError naming the line.
Shared routines live in ``images/lib/`` and are pulled in with ``.include "lib/console.s"``. Next
to a program, ``NAME.expected`` holds its console output at the default sizes on the default
machine.

>>> from vmlab import images
>>> "sieve" in images.names()
True
>>> images.load("fib", N=10).entry
4096
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import operator
from pathlib import Path

from .asm.assembler import AssembleError, assemble_program
from .image import Image

__all__ = ["expected_output", "images_dir", "load", "names", "source_path"]

_CACHE_SIZE = 64  # assembled images kept (a benchmark may sweep many sizes)
_cache: dict[tuple[str, tuple[tuple[str, int], ...], int], Image] = {}
# A define every image accepts: PV=1 asks for the paravirtual build (see the module docstring).
_ACCEPTED_BY_EVERY_IMAGE = frozenset({"PV"})


def images_dir() -> Path:
    """The directory holding the image sources (installed wheel first, then the checkout)."""
    installed = importlib.resources.files("vmlab") / "_images"
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[1] / "images"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"vmlab's images are missing: neither {installed} nor {checkout} is a directory"
    )


def names() -> list[str]:
    """Names of the available images, sorted (``"fib"`` for ``images/fib.s``)."""
    return sorted(p.stem for p in images_dir().glob("*.s"))


def source_path(name: str) -> Path:
    """Path of an image's assembly source; unknown names raise ValueError listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"an image name is a string, not {type(name).__name__}")
    path = images_dir() / f"{name}.s"
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise ValueError(f"unknown image {name!r}; available images: {', '.join(names())}")
    return path


def shown_path(path: str) -> str:
    """``path`` as messages show it: ``images/...`` for vmlab's own image sources, else unchanged."""
    try:
        rel = Path(path).resolve().relative_to(images_dir().resolve())
    except (ValueError, OSError):
        return path
    return f"images/{rel.as_posix()}"


def _sources_stamp(folder: Path) -> int:
    """Newest modification time of any source an image may include (so edits are noticed)."""
    return max((p.stat().st_mtime_ns for p in folder.rglob("*.s")), default=0)


def load(name: str, **defines: int) -> Image:
    """Assemble image ``name`` with ``defines`` overriding its ``.default`` values.

    Values are ints (numpy integers too, not bools). A name that is not one of the image's
    parameters, or a value the image refuses, is an AssembleError saying why. Assembled images
    are memoised, but each call returns its own copy: changing it does not change the next one.
    """
    path = source_path(name)
    values: dict[str, int] = {}
    for key, value in defines.items():
        if isinstance(value, bool):
            raise TypeError(f"define {key}={value!r} must be an int, not bool")
        try:
            values[key] = operator.index(value)
        except TypeError:
            raise TypeError(
                f"define {key}={value!r} must be an int, not {type(value).__name__}"
            ) from None
    folder = images_dir()
    key = (name, tuple(sorted(values.items())), _sources_stamp(folder))
    image = _cache.get(key)
    if image is None:
        try:
            image = assemble_program(
                path, defines=values, include_dirs=[folder], also_accept=_ACCEPTED_BY_EVERY_IMAGE
            )
        except AssembleError as exc:  # (shown as images/..., not where vmlab is installed)
            shown = [dataclasses.replace(d, file=shown_path(d.file)) for d in exc.diagnostics]
            raise AssembleError(shown, exc.suppressed) from None
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))  # forget the oldest
        _cache[key] = image
    return _copy(image)


def _copy(image: Image) -> Image:
    """An independent copy of an image (segments are immutable, so only the dicts are copied)."""
    twin = copy.copy(image)
    twin.symbols = dict(image.symbols)
    twin.source_map = dict(image.source_map)
    return twin


def expected_output(name: str) -> str:
    """The console output image ``name`` should print at its default sizes (``NAME.expected``)."""
    path = source_path(name).with_suffix(".expected")
    if not path.is_file():
        raise FileNotFoundError(f"image {name!r} has no expected output file ({path.name})")
    return path.read_bytes().decode("utf-8")
