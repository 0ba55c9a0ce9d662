# fib.s -- Fibonacci numbers, the slow recursive way (lots of calls and stack traffic).
#
#     fib(0) = 0, fib(1) = 1, fib(n) = fib(n-1) + fib(n-2)
#
# The recursive version makes about 2*fib(N+1) calls, so it is a good workout for `call`/`ret`
# and for the stack. The program then computes the same number with a simple loop and checks
# that both agree. Output (N = 27):
#
#     fib(27) = 196418
#     OK
#
# Exit code 0 when both methods agree, 1 otherwise. N is 0..47 (fib(48) does not fit in 32 bits).

        .include "lib/vl32.s"

        .default N, 27                  # which Fibonacci number (override with defines={"N": ...})
.if N < 0 || N > 47
        .error "N must be 0..47: fib(48) does not fit in 32 bits (and a negative N never ends)"
.endif

        .text
_start:
        li      a0, N
        call    fib                     # the recursive answer ...
        mv      s0, a0                  # ... kept in s0 (callee-saved, survives the calls below)
        li      a0, N
        call    fib_loop                # the iterative answer
        mv      s1, a0

        la      a0, msg_fib             # "fib("
        call    puts
        li      a0, N
        call    put_dec
        la      a0, msg_is              # ") = "
        call    puts
        mv      a0, s0
        call    put_dec
        call    newline

        bne     s0, s1, mismatch        # self-check: both methods must agree
        la      a0, msg_ok
        call    puts
        li      a0, 0
        halt

mismatch:
        la      a0, msg_fail            # "FAIL: the loop says "
        call    puts
        mv      a0, s1
        call    put_dec
        call    newline
        li      a0, 1
        halt

# fib(a0 = n) -> a0 = fib(n), recursively.
# A non-leaf function: it saves ra (its own return address, which the inner calls overwrite) and
# the callee-saved registers it uses, s0 and s1, in a 12-byte stack frame.
fib:
        li      t0, 2
        blt     a0, t0, fib.small       # fib(0) = 0 and fib(1) = 1: n itself
        addi    sp, sp, -12             # make a stack frame ...
        sw      ra, 8(sp)
        sw      s0, 4(sp)
        sw      s1, 0(sp)
        mv      s0, a0                  # s0 = n
        addi    a0, a0, -1
        call    fib                     # a0 = fib(n - 1)
        mv      s1, a0                  # s1 = fib(n - 1)
        addi    a0, s0, -2
        call    fib                     # a0 = fib(n - 2)
        add     a0, a0, s1              # a0 = fib(n - 2) + fib(n - 1)
        lw      s1, 0(sp)               # ... and take it down again
        lw      s0, 4(sp)
        lw      ra, 8(sp)
        addi    sp, sp, 12
fib.small:
        ret

# fib_loop(a0 = n) -> a0 = fib(n), with a loop: (a, b) = (b, a + b), n times.
fib_loop:
        li      t0, 0                   # a = fib(0)
        li      t1, 1                   # b = fib(1)
        beqz    a0, fib_loop.done
fib_loop.step:
        add     t2, t0, t1              # a + b
        mv      t0, t1
        mv      t1, t2
        addi    a0, a0, -1
        bnez    a0, fib_loop.step
fib_loop.done:
        mv      a0, t0
        ret

        .data
msg_fib:    .asciz "fib("
msg_is:     .asciz ") = "
msg_ok:     .asciz "OK\n"
msg_fail:   .asciz "FAIL: the loop says "

        .include "lib/console.s"
