"""The console UART: a byte-wide transmit register captured per machine, and a fed input queue."""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..core.layout import (
    CONSOLE_IN_SIZE,
    CONSOLE_OUT_SIZE,
    DEV_CON_CTRL,
    DEV_CON_IN_HEAD,
    DEV_CON_IN_TAIL,
    DEV_CON_OUT_LEN,
)
from .memmap import CON_CTRL, CON_RX, CON_STATUS, CON_TX

MAX_KEPT_OUTPUT = 4 * 1024 * 1024  # bytes of output a Console keeps (the newest)


@kernel
def console_read(st: np.ndarray, off: int, conin: np.ndarray) -> int:
    """Read console register ``off``; -1 means no such register (an access fault)."""
    if off == CON_RX:
        head = st[DEV_CON_IN_HEAD]
        if head < st[DEV_CON_IN_TAIL]:
            st[DEV_CON_IN_HEAD] = head + 1
            return int(conin[head])
        return 0xFFFFFFFF
    if off == CON_STATUS:
        ready = 1 if st[DEV_CON_IN_HEAD] < st[DEV_CON_IN_TAIL] else 0
        return ready | 2
    if off == CON_CTRL:
        return st[DEV_CON_CTRL]
    if off == CON_TX:
        return 0
    return -1


@kernel
def console_write(st: np.ndarray, off: int, value: int, conout: np.ndarray) -> int:
    """Write console register ``off``: 0 done, 1 output buffer full (drain and retry), -1 fault."""
    if off == CON_TX:
        n = st[DEV_CON_OUT_LEN]
        if n >= conout.shape[0]:
            return 1
        conout[n] = value & 0xFF
        st[DEV_CON_OUT_LEN] = n + 1
        return 0
    if off == CON_CTRL:
        st[DEV_CON_CTRL] = value & 1
        return 0
    if off == CON_RX or off == CON_STATUS:
        return 0  # writes to read-only registers are ignored, as on real UARTs
    return -1


class Console:
    """The console of one machine: ``output`` is everything the guest printed, ``feed`` types input."""

    def __init__(self, st: np.ndarray) -> None:
        self._st = st
        self.out_buffer = np.zeros(CONSOLE_OUT_SIZE, dtype=np.uint8)
        self.in_buffer = np.zeros(CONSOLE_IN_SIZE, dtype=np.uint8)
        self._kept = bytearray()
        self.dropped = 0  # bytes of old output discarded to keep memory bounded

    def drain(self) -> bytes:
        """Move newly printed bytes out of the device buffer; returns them."""
        n = int(self._st[DEV_CON_OUT_LEN])
        if n == 0:
            return b""
        chunk = self.out_buffer[:n].tobytes()
        self._st[DEV_CON_OUT_LEN] = 0
        self._keep(chunk)
        return chunk

    def _keep(self, data: bytes) -> None:
        """Add output to what is kept, dropping the oldest beyond ``MAX_KEPT_OUTPUT``."""
        self._kept += data
        if len(self._kept) > MAX_KEPT_OUTPUT:
            cut = len(self._kept) - MAX_KEPT_OUTPUT
            del self._kept[:cut]
            self.dropped += cut

    def write(self, data: bytes) -> None:
        """Output written by the host for the guest (a paravirtual console write), kept in order."""
        if not isinstance(data, bytes | bytearray | memoryview):  # bytes(5): five zero bytes
            raise TypeError(f"console output is bytes, not {type(data).__name__}")
        self.drain()
        self._keep(bytes(data))

    @property
    def output_bytes(self) -> bytes:
        """Everything the guest wrote to the console (the newest 4 MiB)."""
        self.drain()
        return bytes(self._kept)

    @property
    def output(self) -> str:
        """Console output decoded as UTF-8 (undecodable bytes shown as U+FFFD)."""
        return self.output_bytes.decode("utf-8", errors="replace")

    def clear(self) -> None:
        """Forget the output captured so far."""
        self.drain()
        self._kept.clear()

    def feed(self, data: str | bytes) -> None:
        """Queue input bytes for the guest to read from the RX register."""
        if isinstance(data, str):
            raw = data.encode()
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
        else:  # bytes(5) would be five zero bytes
            raise TypeError(f"console input is str or bytes, not {type(data).__name__}")
        head = int(self._st[DEV_CON_IN_HEAD])
        tail = int(self._st[DEV_CON_IN_TAIL])
        pending = self.in_buffer[head:tail].copy()
        if len(pending) + len(raw) > len(self.in_buffer):
            raise ValueError(
                f"console input queue full: {len(pending)} bytes pending, "
                f"{len(raw)} more do not fit in {len(self.in_buffer)}"
            )
        self.in_buffer[: len(pending)] = pending
        self.in_buffer[len(pending) : len(pending) + len(raw)] = np.frombuffer(raw, np.uint8)
        self._st[DEV_CON_IN_HEAD] = 0
        self._st[DEV_CON_IN_TAIL] = len(pending) + len(raw)

    @property
    def pending_input(self) -> bytes:
        """Input bytes fed but not yet read by the guest."""
        head, tail = int(self._st[DEV_CON_IN_HEAD]), int(self._st[DEV_CON_IN_TAIL])
        return self.in_buffer[head:tail].tobytes()

    def save(self) -> dict:
        """The console's state (output kept, pending input) as plain data."""
        return {"output": self.output_bytes, "dropped": self.dropped, "input": self.pending_input}

    def restore(self, state: dict) -> None:
        """Restore a state made by ``save`` (device registers are restored with the CPU)."""
        self._st[DEV_CON_OUT_LEN] = 0
        self._kept = bytearray(state["output"])
        self.dropped = int(state["dropped"])
        self._st[DEV_CON_IN_HEAD] = 0
        self._st[DEV_CON_IN_TAIL] = 0
        self.feed(state["input"])
