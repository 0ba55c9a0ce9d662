# matmul.s -- multiply two N x N integer matrices: C = A * B.
#
# A and B are filled with small signed numbers (-128 .. 127) from the LCG in lib/rand.s: first
# all of A, row by row, then all of B. Matrices are stored row-major, one word per element:
# element (i, j) of an N x N matrix M is the word at M + 4 * (i * N + j).
#
#     C[i][j] = sum over k of A[i][k] * B[k][j]        (N^3 multiply-adds)
#
# Self-check: the sum of all elements of C can be computed a second, much cheaper way,
#     sum(C) = sum over k of (column k of A summed) * (row k of B summed),
# and the two must agree. The program prints an order-dependent checksum of C,
# h = h * 31 + C[i][j] (mod 2^32, row by row), and sum(C) as a signed number. Output (defaults):
#
#     matmul: 80x80, checksum 0x........, sum ...
#     OK
#
# Exit code 0 on success, 1 if the self-check fails.

        .include "lib/vl32.s"

        .default N, 80                  # matrix size
        .default SEED, 2024             # the LCG seed
.if N < 1 || N > 8191
        .error "N must be 1..8191: a row (4 * N bytes) is an addi offset, at most 32767"
.endif

        .equ    ROW, 4 * N              # bytes in one row
        .equ    MATRIX, 4 * N * N       # bytes in one matrix

        .text
_start:
        la      s0, heap                # s0 = A
        li      t0, MATRIX
        add     s1, s0, t0              # s1 = B
        add     s2, s1, t0              # s2 = C

        # --- fill A and B (they are adjacent, so one loop over 2 * N * N words) --------------
        li      a0, SEED
        call    srand
        mv      s3, s0                  # s3 walks over A, then B
fill:
        call    rand
        srai    a0, a0, 24              # the top 8 bits, as a signed number: -128 .. 127
        sw      a0, 0(s3)
        addi    s3, s3, 4
        bne     s3, s2, fill            # B ends where C starts

        # --- C = A * B ----------------------------------------------------------------------
        # a1 = &A[i][0] (start of row i of A), a2 = &C[i][j], a3 = j as a byte offset (4 * j)
        mv      a1, s0
        mv      a2, s2
row:
        li      a3, 0
column:
        mv      t0, a1                  # t0 walks along row i of A:    &A[i][k]
        add     t1, s1, a3              # t1 walks down column j of B:  &B[k][j]
        addi    t2, a1, ROW             # t2 = end of row i of A
        li      gp, 0                   # gp = the dot product
dot:
        lw      t3, 0(t0)               # A[i][k]
        lw      ra, 0(t1)               # B[k][j]  (ra is free here: no calls inside this loop)
        mul     t3, t3, ra
        add     gp, gp, t3
        addi    t0, t0, 4               # next k: one word right in A ...
        addi    t1, t1, ROW             # ... one row down in B
        bne     t0, t2, dot
        sw      gp, 0(a2)               # C[i][j]
        addi    a2, a2, 4
        addi    a3, a3, 4
        li      t3, ROW
        bne     a3, t3, column
        addi    a1, a1, ROW             # next row of A
        bne     a1, s1, row             # A ends where B starts

        # --- checksum and sum of C ----------------------------------------------------------
        li      t0, 0                   # t0 = h
        li      t1, 0                   # t1 = sum(C)
        li      t3, 31
        mv      a1, s2
        li      a2, MATRIX
        add     a2, a2, s2              # a2 = end of C
checksum:
        lw      a3, 0(a1)
        mul     t0, t0, t3              # h = h * 31 + C[i][j]
        add     t0, t0, a3
        add     t1, t1, a3
        addi    a1, a1, 4
        bne     a1, a2, checksum
        mv      s3, t0                  # s3 = checksum

        # --- the cheap way: sum(C) = sum over k of colsum(A, k) * rowsum(B, k) ---------------
        li      gp, 0                   # gp = the cheap sum(C)
        li      a1, 0                   # a1 = k as a byte offset (4 * k)
cheap:
        # colsum(A, k): A[0][k] + A[1][k] + ...
        li      a3, 0
        add     t0, s0, a1              # &A[0][k]
        mv      t2, s1                  # column k of A ends before B
cheap.col:
        lw      t3, 0(t0)
        add     a3, a3, t3
        addi    t0, t0, ROW
        bltu    t0, t2, cheap.col
        # rowsum(B, k): B[k][0] + B[k][1] + ...
        li      a0, 0
        li      t2, N
        mul     t0, a1, t2              # (4 * k) * N = byte offset of row k
        add     t0, t0, s1              # &B[k][0]
        addi    t2, t0, ROW             # end of row k
cheap.row:
        lw      t3, 0(t0)
        add     a0, a0, t3
        addi    t0, t0, 4
        bne     t0, t2, cheap.row
        mul     a3, a3, a0
        add     gp, gp, a3
        addi    a1, a1, 4
        li      t2, ROW
        bne     a1, t2, cheap
        mv      s2, t1                  # s2 = sum(C) (C is not needed any more)
        mv      s1, gp                  # s1 = the cheap sum(C)

        # --- report --------------------------------------------------------------------------
        la      a0, msg_matmul          # "matmul: "
        call    puts
        li      a0, N
        call    put_dec
        li      a0, 'x'
        call    putc
        li      a0, N
        call    put_dec
        la      a0, msg_checksum        # ", checksum "
        call    puts
        mv      a0, s3
        call    put_hex
        la      a0, msg_sum             # ", sum "
        call    puts
        mv      a0, s2
        call    put_int
        call    newline
        bne     s1, s2, failed
        la      a0, msg_ok
        call    puts
        li      a0, 0
        halt
failed:
        la      a0, msg_fail            # "FAIL: column/row sums give "
        call    puts
        mv      a0, s1
        call    put_int
        call    newline
        li      a0, 1
        halt

        .data
msg_matmul:   .asciz "matmul: "
msg_checksum: .asciz ", checksum "
msg_sum:      .asciz ", sum "
msg_ok:       .asciz "OK\n"
msg_fail:     .asciz "FAIL: column/row sums give "

        .include "lib/console.s"
        .include "lib/rand.s"

        .data
        .align  4
heap:                                   # free memory from here up to the stack
