"""Reading and writing vmlab's files: one way to name a path, read a file and write one safely.

``read_bytes`` reads a whole file with errors that name it and say what is wrong (an empty
name, a directory, no such file) in the reader's words ("no such VM export file").

The bytes go to a temporary file beside the target, are flushed to disk, and the temporary file
then replaces the target in one step (``os.replace``), so a crash or an interrupt leaves either
the old file or the new one, never half of one. Beyond that, what a user expects of ``-o``:

- a symbolic link is followed: the file it points to is replaced, the link stays;
- only a regular file is ever replaced: a directory, a device (``/dev/null``), a FIFO or a socket
  at the path is refused, as is a file with no write permission at all;
- a new file gets the usual permissions (``0o666`` less the umask), a replaced file keeps its own;
- every error names the path the caller gave, never the temporary file.

Replacing a file gives it a new inode, so other hard links to the old file keep the old bytes.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path


def file_name(path: object, what: str) -> str:
    """``path`` (str, bytes or os.PathLike) as a str; TypeError naming ``what`` if it is none."""
    try:
        return os.fsdecode(os.fspath(path))  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"{what} must be a file name (a str or a pathlib.Path), not {type(path).__name__}"
        ) from None


def read_bytes(path: str | os.PathLike[str], kind: str) -> bytes:
    """All bytes of the file at ``path``, a ``kind`` ("image file"); an OSError names ``path``."""
    given = file_name(path, f"the {kind}'s path")
    if not given:
        raise FileNotFoundError(f"the {kind}'s name is empty")
    try:
        return Path(given).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{given}: no such {kind}") from None
    except IsADirectoryError:
        article = "an" if kind[0] in "aeiou" else "a"
        raise IsADirectoryError(f"{given}: is a directory, not {article} {kind}") from None
    except OSError as exc:
        raise type(exc)(f"{given}: cannot read the {kind}: {exc.strerror or exc}") from None


def check_writable_target(path: str | os.PathLike[str]) -> Path:
    """The real file ``path`` names (links followed); OSError naming ``path`` if it cannot be one."""
    given = file_name(path, "the output path")
    if not given:
        raise OSError(errno.ENOENT, "the output file name is empty", given)
    real = Path(os.path.realpath(given))
    try:
        st = real.stat()
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EISDIR, "is a directory", given)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EPERM, "is not a regular file (refusing to replace it)", given)
        if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise OSError(errno.EACCES, "is read-only (refusing to replace it)", given)
    if not real.parent.is_dir():
        raise OSError(errno.ENOENT, f"directory {real.parent} does not exist", given)
    return real


def write_atomically(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` as one atomic replacement (see the module docstring)."""
    given = file_name(path, "the output path")
    real = check_writable_target(given)
    old_mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else None
    while True:
        tmp = real.parent / f".{real.name}.{secrets.token_hex(4)}.tmp"
        try:  # 0o666: the kernel applies the umask, as for any new file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write here: {exc.strerror}", given) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            if old_mode is not None:
                os.fchmod(out.fileno(), old_mode)
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, real)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror or str(exc), given) from exc
        raise
    _sync_directory(real.parent)


def _sync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not possible on every platform: then skipped)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
