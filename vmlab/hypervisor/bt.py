"""Binary translation: the VMM rewrites sensitive instructions before guest code runs.

The core's decode cache doubles as the translation cache. With ``VM_TRANSLATE`` set, a miss exits
to the VMM, which translates the whole 4 KiB code page at once: ordinary instructions decode as
usual, every privileged or sensitive instruction becomes ``OP_BTCALL``, a cheap call-out to the VMM
(no trap). A guest store into translated code clears the entries it overwrites, so the new code is
translated again on its next execution. This is what lets a machine whose ``csrr status`` does not
trap (``strict=False``) be virtualized correctly.
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..core.decode import OP_BTCALL, decode
from ..isa.table import INSTRUCTIONS

SENSITIVE = np.zeros(256, dtype=np.bool_)
for _row in INSTRUCTIONS:
    if _row.privileged:  # csr*, eret, wfi, halt, tlbflush (csrr status among them)
        SENSITIVE[_row.opcode] = True


@kernel
def translate_page(mem: np.ndarray, dcache: np.ndarray, st: np.ndarray, pa: int) -> int:
    """Translate the host page holding ``pa``; returns how many sensitive words were replaced."""
    first = (pa >> 12) << 10
    replaced = 0
    for w in range(first, first + 1024):
        if dcache[w] == 0:
            d = decode(int(mem[w]), w << 2, st)
            if SENSITIVE[d & 0xFF]:
                d = (d & ~0xFF) | OP_BTCALL
                replaced += 1
            dcache[w] = d
    return replaced
