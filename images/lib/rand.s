# lib/rand.s -- a tiny pseudo-random number generator (a linear congruential generator).
#
# Include it once, after your own code:   .include "lib/rand.s"
#
#     state = state * 1664525 + 1013904223   (mod 2^32, "Numerical Recipes" constants)
#
# The sequence is fully determined by the seed, so a program's output is reproducible and a test
# can compute the same numbers in Python. The low bits of an LCG are not very random (bit 0
# just alternates): use the high bits when you need a few random bits.
#
# Both routines are leaves: they change a0, t0 and t1 only.

        .data
        .align  4
rand.state:
        .word   1                       # the current state (the seed until rand is called)

        .text

# srand(a0 = seed): restart the sequence.
srand:
        la      t0, rand.state
        sw      a0, 0(t0)
        ret

# rand() -> a0: the next state, a 32-bit number.
rand:
        la      t0, rand.state
        lw      a0, 0(t0)
        li      t1, 1664525
        mul     a0, a0, t1              # wraps modulo 2^32, as intended
        li      t1, 1013904223
        add     a0, a0, t1
        sw      a0, 0(t0)
        ret
