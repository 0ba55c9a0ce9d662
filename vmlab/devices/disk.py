"""The block device: 512-byte sectors moved by DMA between RAM and a disk image (file or memory)."""

from __future__ import annotations

import operator
import os
from pathlib import Path

import numpy as np

from .._jit import kernel
from ..core.layout import (
    DEV_DSK_ADDR,
    DEV_DSK_CTRL,
    DEV_DSK_SECTOR,
    DEV_DSK_STATUS,
    P2M_SHIFT,
    P2M_V,
    P2M_W,
    ST_EXIT,
)
from ..files import file_name
from ..units import format_size, parse_size
from .memmap import (
    DISK_BAD_ADDR,
    DISK_BAD_CMD,
    DISK_BAD_SECTOR,
    DISK_CMD_READ,
    DISK_CMD_WRITE,
    DISK_IRQ_PENDING,
    DISK_NONE,
    DISK_OK,
    DISK_SECTOR_CYCLES,
    DSK_ADDR,
    DSK_CMD,
    DSK_COUNT,
    DSK_CTRL,
    DSK_SECTOR,
    DSK_STATUS,
    SECTOR_SIZE,
)

NEEDS_HOST = -3  # disk_write result: the DMA page needs the hypervisor (second-stage fault)


@kernel
def disk_read(st: np.ndarray, off: int, disk: np.ndarray) -> int:
    """Read disk register ``off``; -1 means no such register."""
    if off == DSK_SECTOR:
        return st[DEV_DSK_SECTOR]
    if off == DSK_ADDR:
        return st[DEV_DSK_ADDR]
    if off == DSK_STATUS:
        return st[DEV_DSK_STATUS]
    if off == DSK_COUNT:
        return disk.shape[0] // SECTOR_SIZE
    if off == DSK_CTRL:
        return st[DEV_DSK_CTRL]
    if off == DSK_CMD:
        return 0
    return -1


@kernel
def disk_write(
    st: np.ndarray,
    off: int,
    value: int,
    mem: np.ndarray,
    dcache: np.ndarray,
    dirty: np.ndarray,
    p2m: np.ndarray,
    disk: np.ndarray,
    guest: bool,
    ramsize: int,
) -> int:
    """Write disk register ``off``: extra cycles spent (>= 0), -1 fault, NEEDS_HOST for the VMM."""
    if off == DSK_SECTOR:
        st[DEV_DSK_SECTOR] = value
        return 0
    if off == DSK_ADDR:
        st[DEV_DSK_ADDR] = value
        return 0
    if off == DSK_CTRL:
        st[DEV_DSK_CTRL] = value & 1
        return 0
    if off == DSK_STATUS:
        st[DEV_DSK_STATUS] = st[DEV_DSK_STATUS] & ~DISK_IRQ_PENDING
        return 0
    if off == DSK_COUNT:
        return 0
    if off != DSK_CMD:
        return -1
    irq = DISK_IRQ_PENDING if st[DEV_DSK_CTRL] & 1 else 0
    nsect = disk.shape[0] // SECTOR_SIZE
    sector = st[DEV_DSK_SECTOR]
    gpa = st[DEV_DSK_ADDR]
    if value != DISK_CMD_READ and value != DISK_CMD_WRITE:
        st[DEV_DSK_STATUS] = DISK_BAD_CMD | irq
        return 0
    if nsect == 0:
        st[DEV_DSK_STATUS] = DISK_NONE | irq
        return 0
    if sector < 0 or sector >= nsect:
        st[DEV_DSK_STATUS] = DISK_BAD_SECTOR | irq
        return 0
    if gpa % SECTOR_SIZE != 0 or gpa < 0 or gpa + SECTOR_SIZE > ramsize:
        st[DEV_DSK_STATUS] = DISK_BAD_ADDR | irq
        return 0
    pa = gpa
    if guest:
        entry = p2m[gpa >> 12]
        need = P2M_V | (P2M_W if value == DISK_CMD_READ else 0)
        if entry & need != need:
            st[ST_EXIT + 2] = gpa
            st[ST_EXIT + 3] = 2 if value == DISK_CMD_READ else 1
            return NEEDS_HOST
        pa = ((entry >> P2M_SHIFT) << 12) | (gpa & 0xFFF)
    base = sector * SECTOR_SIZE
    w0 = pa >> 2
    if value == DISK_CMD_READ:
        for i in range(SECTOR_SIZE // 4):
            j = base + 4 * i
            mem[w0 + i] = (
                int(disk[j])
                | (int(disk[j + 1]) << 8)
                | (int(disk[j + 2]) << 16)
                | (int(disk[j + 3]) << 24)
            )
            dcache[w0 + i] = 0
        dirty[pa >> 12] = 1
    else:
        for i in range(SECTOR_SIZE // 4):
            j = base + 4 * i
            w = int(mem[w0 + i])
            disk[j] = w & 0xFF
            disk[j + 1] = (w >> 8) & 0xFF
            disk[j + 2] = (w >> 16) & 0xFF
            disk[j + 3] = (w >> 24) & 0xFF
    st[DEV_DSK_STATUS] = DISK_OK | irq
    return DISK_SECTOR_CYCLES


class Disk:
    """A disk image: ``Disk.memory(size)``, ``Disk.from_bytes(data)`` or ``Disk.file(path)``."""

    def __init__(self, data: np.ndarray, path: Path | None = None) -> None:
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
            raise TypeError(
                "a disk is a one-dimensional uint8 array: make one with Disk.file(path), "
                f"Disk.memory(size) or Disk.from_bytes(data), not Disk({type(data).__name__})"
            )
        if len(data) == 0 or len(data) % SECTOR_SIZE:
            raise ValueError(
                f"disk size {len(data)} is not a positive multiple of the {SECTOR_SIZE}-byte sector"
            )
        if not data.flags.writeable or not data.flags.c_contiguous:
            raise ValueError(
                "a disk's array must be writable and contiguous (np.frombuffer(bytes) is "
                "read-only): use Disk.from_bytes(data), which copies it"
            )
        self.data = data
        self.path = path
        self._inode: tuple[int, int] | None = None

    def __repr__(self) -> str:
        where = "in memory" if self.path is None else f"file {str(self.path)!r}"
        return f"<Disk {format_size(len(self.data))} {where}, {self.sectors} sectors>"

    @staticmethod
    def _size(size: int | str) -> int:
        """A disk size (bytes, or a string like "1M") checked: a positive multiple of 512."""
        n = parse_size(size, "disk size")
        if n <= 0 or n % SECTOR_SIZE:
            raise ValueError(
                f"disk size {size!r} is not a positive multiple of the {SECTOR_SIZE}-byte sector"
            )
        return n

    @classmethod
    def memory(cls, size: int | str) -> Disk:
        """An empty in-memory disk of ``size`` bytes ("1M" works too; a multiple of 512, <= 1G)."""
        n = cls._size(size)
        if n > MAX_MEMORY_DISK:
            raise ValueError(
                f"an in-memory disk of {format_size(n)} is larger than "
                f"{format_size(MAX_MEMORY_DISK)}: use Disk.file(path, size=...), which only "
                "holds what the guest touches"
            )
        return cls(np.zeros(n, dtype=np.uint8))

    @classmethod
    def from_bytes(cls, data: bytes) -> Disk:
        """An in-memory disk holding ``data`` (padded with zeros to whole sectors, at least one)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"Disk.from_bytes takes bytes, not {type(data).__name__}")
        raw = bytes(data)
        size = max(1, -(-len(raw) // SECTOR_SIZE)) * SECTOR_SIZE  # at least one sector
        arr = np.zeros(size, dtype=np.uint8)
        arr[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        return cls(arr)

    @classmethod
    def file(cls, path: str | os.PathLike, size: int | str | None = None) -> Disk:
        """A disk backed by an image file; ``size`` creates (or grows) the file to that many bytes."""
        given = file_name(path, "the disk image's path")
        if not given:
            raise FileNotFoundError("the disk image's name is empty")
        p = Path(given)
        n = None if size is None else cls._size(size)  # (checked before the file is touched)
        if p.is_dir():
            raise IsADirectoryError(f"disk image {given}: is a directory")
        if p.exists() and not p.is_file():
            raise ValueError(f"disk image {given}: is not a regular file")
        if n is not None and (not p.exists() or p.stat().st_size < n):
            with open(p, "ab") as f:
                f.truncate(n)
        if not p.exists():
            raise FileNotFoundError(f"disk image {given} does not exist (pass size= to create it)")
        length = p.stat().st_size
        if length == 0 or length % SECTOR_SIZE:
            raise ValueError(
                f"disk image {given}: size {length} is not a positive multiple of {SECTOR_SIZE}"
            )
        disk = cls(np.memmap(p, dtype=np.uint8, mode="r+"), path=p)
        disk._inode = (p.stat().st_dev, p.stat().st_ino)
        return disk

    def check(self) -> None:
        """Raise if a file-backed disk's file has shrunk (touching the lost part would crash).

        The core reads and writes the file through a memory map: if another program truncates
        the file, touching the pages past its new end kills the process (SIGBUS). Machines and
        VMs call this before every run. A file replaced or removed is harmless (the map keeps
        the old one).
        """
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self._inode and st.st_size < len(self.data):
            raise DiskFileError(
                f"disk image {self.path} was truncated by another program: it had "
                f"{len(self.data)} bytes, it has {st.st_size}; reopen it with Disk.file()"
            )

    @property
    def sectors(self) -> int:
        """Number of 512-byte sectors."""
        return len(self.data) // SECTOR_SIZE

    def read_sector(self, n: int) -> bytes:
        """The bytes of sector ``n``."""
        if isinstance(n, bool) or (not isinstance(n, int) and not hasattr(n, "__index__")):
            raise TypeError(f"a sector number is an int, not {type(n).__name__}")
        n = operator.index(n)
        if not 0 <= n < self.sectors:
            raise IndexError(f"sector {n} out of range 0..{self.sectors - 1}")
        self.check()
        return self.data[n * SECTOR_SIZE : (n + 1) * SECTOR_SIZE].tobytes()

    def flush(self) -> None:
        """Write a file-backed disk's changes to its file."""
        if isinstance(self.data, np.memmap):
            self.data.flush()


NO_DISK = np.zeros(0, dtype=np.uint8)
MAX_MEMORY_DISK = 1 << 30  # an in-memory disk's largest size (a file-backed one has no limit)


class DiskFileError(OSError):
    """A disk's backing file changed under it (truncated or removed by another program)."""
