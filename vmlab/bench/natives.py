"""The benchmark's programs written directly in Numba: what the guest images compute, natively.

Each function here is the same algorithm, with the same sizes, data and answers, as a program in
``images/``, so that the benchmark can compare whole-program wall time: native time against
emulated time for the same problem gives "x slower than native".

- :func:`sieve` is ``images/sieve.s``: one byte flag per number, cleared a word at a time; every
  prime ``p`` with ``p*p < n`` marks ``p*p, p*p + p, ...``; then the unmarked numbers ``2..n-1``
  are counted.
- :func:`matmul` is ``images/matmul.s``: A and B filled from the LCG of ``images/lib/rand.s``
  (the top 8 bits of each state as a signed number), ``C = A * B`` with 32-bit wrap-around, the
  checksum ``h = h * 31 + C[i][j]`` and ``sum(C)``, and the cheap cross-check
  ``sum over k of colsum(A, k) * rowsum(B, k)``.

>>> sieve(100)
25
>>> matmul(2, 2024)[1] == matmul(2, 2024)[2]
True
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel

__all__ = ["matmul", "sieve"]

M32 = 0xFFFFFFFF
LCG_A = 1664525  # images/lib/rand.s: state = state * 1664525 + 1013904223 (mod 2^32)
LCG_C = 1013904223


@kernel
def _wrap32(x: int) -> int:
    """``x`` modulo 2^32 as a signed 32-bit number (what a VL32 register holds)."""
    x &= M32
    return x - (1 << 32) if x & 0x80000000 else x


@kernel
def sieve(n: int) -> int:
    """The number of primes below ``n`` (the answer ``images/sieve.s`` prints for N = n)."""
    words = (n + 3) >> 2
    cells = np.empty(words, dtype=np.uint32)  # the guest clears the flags a word at a time
    for i in range(words):
        cells[i] = 0
    flags = cells.view(np.uint8)
    p = 2
    while p * p < n:
        if flags[p] == 0:  # p is prime: mark its multiples from p*p on
            for j in range(p * p, n, p):
                flags[j] = 1
        p += 1
    count = 0
    for i in range(2, n):
        if flags[i] == 0:
            count += 1
    return count


@kernel
def matmul(n: int, seed: int) -> tuple[int, int, int]:
    """``(checksum, sum(C), cheap sum(C))`` for ``images/matmul.s`` with N = n, SEED = seed.

    ``checksum`` is unsigned 32-bit; both sums are signed 32-bit, as the guest prints them.
    """
    a = np.empty((n, n), dtype=np.int32)
    b = np.empty((n, n), dtype=np.int32)
    c = np.empty((n, n), dtype=np.int32)
    state = seed & M32
    for m in (a, b):  # all of A row by row, then all of B
        for i in range(n):
            for j in range(n):
                state = (state * LCG_A + LCG_C) & M32
                m[i, j] = _wrap32(state) >> 24  # srai a0, a0, 24: the top 8 bits, signed
    for i in range(n):
        for j in range(n):
            dot = 0
            for k in range(n):
                dot += a[i, k] * b[k, j]
            c[i, j] = _wrap32(dot)
    h = 0
    total = 0
    for i in range(n):
        for j in range(n):
            h = (h * 31 + c[i, j]) & M32
            total += c[i, j]
    cheap = 0
    for k in range(n):
        col = 0
        row = 0
        for i in range(n):
            col += a[i, k]
        for j in range(n):
            row += b[k, j]
        cheap += col * row
    return h, _wrap32(total), _wrap32(cheap)
