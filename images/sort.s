# sort.s -- quicksort an array of pseudo-random 32-bit numbers, then check the result.
#
# 1. Fill an array of N words with numbers from the LCG in lib/rand.s (seed SEED), adding them
#    all up on the way (the sum does not depend on the order).
# 2. Sort it in place with a recursive quicksort (Hoare's partition, middle element as pivot),
#    comparing the numbers as unsigned.
# 3. Check: every element is <= the next one, and the sum is the same as before (so nothing was
#    lost or duplicated). Print an order-dependent checksum of the sorted array,
#    h = h * 31 + a[i] (mod 2^32), which a test recomputes in Python with sorted().
#
# Output (defaults):
#
#     sort: 30000 numbers, checksum 0x........
#     OK
#
# Exit code 0 on success, 1 if the array is not sorted, 2 if the numbers changed.

        .include "lib/vl32.s"

        .default N, 30000               # how many numbers to sort
        .default SEED, 12345            # the LCG seed
.if N < 0 || N > 0x10000000
        .error "N must be 0..0x10000000: the N words must fit in 1 GiB, the largest machine"
.endif

        .text
_start:
        # --- fill the array with random numbers ---------------------------------------------
        li      a0, SEED
        call    srand
        la      s0, heap                # s0 = the array, in the free memory after the program
        li      s1, N
        slli    s1, s1, 2
        add     s1, s1, s0              # s1 = one past the last element
        li      s2, 0                   # s2 = sum of the elements
        mv      s3, s0                  # s3 walks over the array
fill:
        beq     s3, s1, fill.done
        call    rand                    # a0 = next random number
        sw      a0, 0(s3)
        add     s2, s2, a0
        addi    s3, s3, 4
        j       fill
fill.done:

        # --- sort -------------------------------------------------------------------------
        mv      a0, s0                  # first element
        addi    a1, s1, -4              # last element
        call    quicksort

        # --- check: sorted, same sum; compute the checksum --------------------------------
        li      t0, 0                   # t0 = sum again
        li      t1, 0                   # t1 = checksum h
        li      t2, 0                   # t2 = previous element (nothing is below 0)
        li      a3, 31
        li      s3, 0                   # s3 = exit code: 0 so far
        mv      a1, s0
check:
        beq     a1, s1, check.done
        lw      a2, 0(a1)
        bgeu    a2, t2, check.in_order  # a[i] >= a[i-1]?
        li      s3, 1                   # no: not sorted
check.in_order:
        mv      t2, a2
        add     t0, t0, a2
        mul     t1, t1, a3              # h = h * 31 + a[i]
        add     t1, t1, a2
        addi    a1, a1, 4
        j       check
check.done:
        beqz    s3, check.sum
        j       report
check.sum:
        beq     t0, s2, report
        li      s3, 2                   # the sum changed: elements were lost or duplicated

report:
        mv      s2, t1                  # keep the checksum (puts changes t registers)
        la      a0, msg_sort            # "sort: "
        call    puts
        li      a0, N
        call    put_dec
        la      a0, msg_numbers         # " numbers, checksum "
        call    puts
        mv      a0, s2
        call    put_hex
        call    newline
        la      a0, messages            # messages[exit code]
        slli    t0, s3, 2
        add     a0, a0, t0
        lw      a0, 0(a0)
        call    puts
        mv      a0, s3
        halt

# quicksort(a0 = address of the first element, a1 = address of the last element)
# Sorts the words a0[0] .. a1[0] in place, ascending, as unsigned numbers.
#
# Hoare's partition: pick the pivot value from the middle; walk i up from the left while
# a[i] < pivot and j down from the right while a[j] > pivot; swap a[i] and a[j]; repeat until
# they cross. Then everything in lo..j is <= pivot <= everything in j+1..hi: sort both halves.
quicksort:
        bgeu    a0, a1, quicksort.ret   # 0 or 1 elements: already sorted
        addi    sp, sp, -12
        sw      ra, 8(sp)
        sw      s0, 4(sp)
        sw      s1, 0(sp)
        mv      s0, a0                  # s0 = lo
        mv      s1, a1                  # s1 = hi
        sub     t0, a1, a0              # 4 * (n - 1) bytes
        srli    t0, t0, 3               # (n - 1) / 2 elements ...
        slli    t0, t0, 2               # ... as a byte offset
        add     t0, t0, a0
        lw      t3, 0(t0)               # t3 = pivot, the middle element
        addi    t1, a0, -4              # t1 = i, one before lo
        addi    t2, a1, 4               # t2 = j, one after hi
quicksort.scan_i:
        addi    t1, t1, 4
        lw      a2, 0(t1)
        bltu    a2, t3, quicksort.scan_i    # while a[i] < pivot
quicksort.scan_j:
        addi    t2, t2, -4
        lw      a3, 0(t2)
        bltu    t3, a3, quicksort.scan_j    # while a[j] > pivot
        bgeu    t1, t2, quicksort.split     # i and j met: done partitioning
        sw      a3, 0(t1)               # swap a[i] and a[j]
        sw      a2, 0(t2)
        j       quicksort.scan_i
quicksort.split:
        addi    s0, t2, 4               # remember where the right half starts (j + 1) ...
        mv      a1, t2                  # ... and sort the left half lo .. j
        call    quicksort               # (a0 still holds lo)
        mv      a0, s0                  # then the right half j + 1 .. hi
        mv      a1, s1
        call    quicksort
        lw      s1, 0(sp)
        lw      s0, 4(sp)
        lw      ra, 8(sp)
        addi    sp, sp, 12
quicksort.ret:
        ret

        .data
        .align  4
messages:                               # what to say for each exit code
        .word   msg_ok, msg_unsorted, msg_changed
msg_sort:     .asciz "sort: "
msg_numbers:  .asciz " numbers, checksum "
msg_ok:       .asciz "OK\n"
msg_unsorted: .asciz "FAIL: not sorted\n"
msg_changed:  .asciz "FAIL: the numbers changed\n"

        .include "lib/console.s"
        .include "lib/rand.s"

        .data
        .align  4
heap:                                   # free memory from here up to the stack
