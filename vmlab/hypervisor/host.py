"""Host physical memory: the frames the hypervisor owns and lends to VMs (with reference counts).

All VMs share one host memory array, one decode cache and one dirty bitmap (one byte per frame), as
on a real host; a VM sees only the frames its second-stage map (p2m) points to. Frames are handed
out lowest-number first, so runs are deterministic. A frame shared by linked clones has a reference
count above one and is mapped read-only in each of them until written (copy-on-write).
"""

from __future__ import annotations

import heapq

import numpy as np

from ..isa.arch import PAGE_SIZE
from ..units import format_size

HYPERVISOR_FRAMES = 16  # frames 0..15 hold the hypervisor's own data; never given to a VM
MAX_HOST_MEMORY = 4 << 30  # the largest host (a VM has at most 1G)


class HostMemoryError(MemoryError):
    """The host does not have the frames a request needs (nothing was changed)."""


class HostMemory:
    """The host's RAM as frames, with the shared decode cache and dirty bitmap."""

    def __init__(self, size: int) -> None:
        if size % PAGE_SIZE or size < (HYPERVISOR_FRAMES + 16) * PAGE_SIZE:
            raise ValueError(
                f"host memory {format_size(size)} must be a multiple of 4K and at least "
                f"{format_size((HYPERVISOR_FRAMES + 16) * PAGE_SIZE)}"
            )
        self.size = size
        self.frames = size // PAGE_SIZE
        self.mem = np.zeros(size // 4, dtype=np.uint32)
        self.dcache = np.zeros(size // 4, dtype=np.int64)
        self.dirty = np.zeros(self.frames, dtype=np.uint8)
        self.refs = np.zeros(self.frames, dtype=np.int32)
        self.refs[:HYPERVISOR_FRAMES] = 1
        self._free = list(range(HYPERVISOR_FRAMES, self.frames))
        heapq.heapify(self._free)
        self.generation = 0  # counts changes of ownership (alloc, share, release)

    @property
    def free_frames(self) -> int:
        """Frames not owned by any VM."""
        return len(self._free)

    @property
    def used_bytes(self) -> int:
        """Bytes of host memory in use by VMs (each shared frame counted once)."""
        return (self.frames - HYPERVISOR_FRAMES - len(self._free)) * PAGE_SIZE

    def alloc(self, n: int, what: str = "a VM") -> np.ndarray:
        """``n`` zeroed frames (lowest numbers first); raises HostMemoryError if they do not fit."""
        if n > len(self._free):
            raise HostMemoryError(
                f"{what} needs {format_size(n * PAGE_SIZE)} but the host has only "
                f"{format_size(len(self._free) * PAGE_SIZE)} free of {format_size(self.size)}"
            )
        frames = np.array([heapq.heappop(self._free) for _ in range(n)], dtype=np.int64)
        self.refs[frames] = 1
        self.generation += 1
        return frames

    def share(self, frames: np.ndarray) -> None:
        """One more owner for each frame (a linked clone)."""
        self.refs[frames] += 1
        self.generation += 1

    def release(self, frames: np.ndarray) -> None:
        """Drop one owner of each frame; a frame nobody owns is scrubbed and freed."""
        owned = np.asarray(frames, dtype=np.int64).tolist()
        for f in owned:  # all checked before any is changed
            if f < HYPERVISOR_FRAMES or self.refs[f] <= 0:
                raise ValueError(f"frame {f} is not owned by a VM")
        freed = []
        self.generation += 1
        for f in owned:
            self.refs[f] -= 1
            if self.refs[f] == 0:
                freed.append(f)
        self.scrub(np.array(freed, dtype=np.int64))
        for f in freed:
            heapq.heappush(self._free, f)

    def scrub(self, frames: int | np.ndarray) -> None:
        """Zero frames and forget their decoded words (nothing leaks to a next owner)."""
        rows = np.atleast_1d(np.asarray(frames, dtype=np.int64))
        self.mem.reshape(-1, PAGE_SIZE // 4)[rows] = 0
        self.dcache.reshape(-1, PAGE_SIZE // 4)[rows] = 0
        self.dirty[rows] = 0

    def frame_words(self, frame: int) -> np.ndarray:
        """A view of one frame as 1024 words."""
        w = frame * (PAGE_SIZE // 4)
        return self.mem[w : w + PAGE_SIZE // 4]

    def copy_frame(self, src: int, dst: int) -> None:
        """Copy one frame's contents to another (decoded words of the target are forgotten)."""
        self.frame_words(dst)[:] = self.frame_words(src)
        w = dst * (PAGE_SIZE // 4)
        self.dcache[w : w + PAGE_SIZE // 4] = 0
