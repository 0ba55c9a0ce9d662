# sieve.s -- count the primes below N with the sieve of Eratosthenes.
#
# flags[i] = 1 marks i as composite. For every prime p with p*p < N, mark p*p, p*p + p, ...
# Then count the unmarked numbers 2..N-1. The flags are one byte per number, placed in the free
# memory after the program (N = 1000000 needs about 1 MiB).
#
# With PAGING=1 the program first builds an identity-mapped two-level page table (virtual
# address = physical address, see docs/machine.md "Paging"), turns paging on, and then runs the
# very same sieve: every load and store now goes through the TLB. Comparing the two runs shows
# what address translation costs.
#
# Self-check: when N is a power of ten up to 10^7 the count is compared with the known value
# of pi(N). Output (defaults):
#
#     sieve: 78498 primes below 1000000
#     OK
#
# Exit code 0 on success, 1 if the count is wrong.

        .include "lib/vl32.s"

        .default N, 1000000             # count the primes below N
        .default PAGING, 0              # 1: run with paging on (identity map)
.if N < 0 || N > 0x40000000
        .error "N must be 0..0x40000000: the flags take N bytes, and the largest machine has 1 GiB"
.endif

        .text
_start:
        la      s0, heap                # s0 = first free byte after the program
.if PAGING
        mv      a0, s0
        call    paging_on               # page tables go at s0; returns the next free byte
        mv      s0, a0
        la      a0, msg_paging          # "sieve: paging on, "
        call    puts
        la      t0, mapped_pages
        lw      a0, 0(t0)
        call    put_dec
        la      a0, msg_pages           # " pages identity-mapped"
        call    puts
.endif

        # --- clear the flags: N bytes from s0, a word (4 flags) at a time --------------------
        li      t0, N + 3
        srli    t0, t0, 2               # number of words, rounded up
        slli    t0, t0, 2
        add     t0, t0, s0              # t0 = end of the flags
        mv      t1, s0
clear:
        bgeu    t1, t0, clear.done
        sw      zero, 0(t1)
        addi    t1, t1, 4
        j       clear
clear.done:

        # --- sieve --------------------------------------------------------------------------
        li      s1, N                   # s1 = N
        add     s2, s0, s1              # s2 = &flags[N], one past the end
        li      t3, 1                   # the value stored as "composite"
        li      a1, 2                   # a1 = p, the candidate prime
sieve.next_p:
        mul     t0, a1, a1              # p*p
        bgeu    t0, s1, sieve.done      # stop when p*p >= N
        add     t1, s0, a1
        lbu     t1, 0(t1)               # flags[p]
        bnez    t1, sieve.skip          # p is composite: its multiples are already marked
        add     t1, s0, t0              # t1 = &flags[p*p]: smaller multiples have smaller factors
sieve.mark:
        sb      t3, 0(t1)               # flags[j] = 1
        add     t1, t1, a1              # j += p
        bltu    t1, s2, sieve.mark
sieve.skip:
        addi    a1, a1, 1
        j       sieve.next_p
sieve.done:

        # --- count the unmarked numbers 2 .. N-1 ---------------------------------------------
        li      s3, 0                   # s3 = count
        addi    t1, s0, 2               # t1 = &flags[2]
        bgeu    t1, s2, count.done      # N <= 2: no primes
count.loop:
        lbu     t0, 0(t1)
        bnez    t0, count.composite
        addi    s3, s3, 1
count.composite:
        addi    t1, t1, 1
        bltu    t1, s2, count.loop
count.done:

        # --- report ---------------------------------------------------------------------------
        la      a0, msg_sieve           # "sieve: "
        call    puts
        mv      a0, s3
        call    put_dec
        la      a0, msg_below           # " primes below "
        call    puts
        li      a0, N
        call    put_dec
        call    newline

        # --- self-check against the known values of pi(10^k) -----------------------------------
        la      t0, known               # pairs (n, pi(n)), ended by n = 0
check.next:
        lw      t1, 0(t0)
        beqz    t1, check.ok            # N not in the table: nothing to compare with
        lw      t2, 4(t0)
        addi    t0, t0, 8
        bne     t1, s1, check.next
        bne     t2, s3, check.fail      # found N: the count must match
check.ok:
        la      a0, msg_ok
        call    puts
        li      a0, 0
        halt
check.fail:
        mv      s3, t2
        la      a0, msg_fail            # "FAIL: expected "
        call    puts
        mv      a0, s3
        call    put_dec
        call    newline
        li      a0, 1
        halt

.if PAGING
# paging_on(a0 = free memory) -> a0 = free memory after the page tables.
#
# Builds page tables that map every virtual page to the physical page with the same number
# (an "identity map"), so the program keeps running at the same addresses once paging is on:
#
#   level-1 table (1 page)   1024 entries, one per 4 MiB of address space
#   device table  (1 page)   level-2 table for 0xF0000000..0xF03FFFFF: console, timer, disk, power
#   RAM tables    (n pages)  level-2 tables for RAM, one page per 4 MiB, laid end to end so that the
#                            PTE of virtual page v is simply word v of this area
#
# The amount of RAM is taken from sp: the loader starts us with sp at the top of RAM.
        .equ    DEV_L1_OFFSET, (CONSOLE_BASE >> 22) * 4   # byte offset of the devices' level-1 entry
paging_on:
        addi    a0, a0, PAGE_SIZE - 1   # round the free address up to a page boundary
        srli    a0, a0, 12
        slli    a0, a0, 12
        mv      a1, a0                  # a1 = level-1 table
        addi    a2, a1, PAGE_SIZE       # a2 = device level-2 table
        addi    a3, a2, PAGE_SIZE       # a3 = RAM level-2 tables

        addi    t3, sp, PAGE_SIZE - 1
        srli    t3, t3, 12              # t3 = number of RAM pages (RAM size / 4096, rounded up)
        la      t0, mapped_pages
        sw      t3, 0(t0)
        addi    t2, t3, 1023
        srli    t2, t2, 10              # t2 = number of RAM level-2 tables (1024 PTEs each)

        # clear all the tables: 2 + t2 pages
        addi    t0, t2, 2
        slli    t0, t0, 12
        add     t0, t0, a1              # t0 = end of the tables
        mv      t1, a1
paging_on.clear:
        sw      zero, 0(t1)
        addi    t1, t1, 4
        bltu    t1, t0, paging_on.clear
        mv      a0, t0                  # the return value: free memory after the tables

        # RAM PTEs: word v of the RAM tables maps virtual page v to physical page v
        mv      t0, a3                  # t0 = &PTE[0]
        li      t1, PTE_V | PTE_R | PTE_W | PTE_X   # t1 = PTE for page 0 (physical address 0)
paging_on.ram:
        sw      t1, 0(t0)
        addi    t0, t0, 4
        addi    t1, t1, PAGE_SIZE       # next physical page, same permission bits
        addi    t3, t3, -1
        bnez    t3, paging_on.ram

        # level-1 entries 0 .. t2-1 point to the RAM tables (V set, no R/W/X: "next level")
        mv      t0, a1
        ori     t1, a3, PTE_V
paging_on.l1:
        sw      t1, 0(t0)
        addi    t0, t0, 4
        addi    t1, t1, PAGE_SIZE
        addi    t2, t2, -1
        bnez    t2, paging_on.l1

        # devices: level-1 entry 0xF0000000 >> 22 = 0x3C0 points to the device table, whose
        # entries 0..3 map the console, timer, disk and power pages (read/write, not executable)
        ori     t1, a2, PTE_V
        sw      t1, DEV_L1_OFFSET(a1)   # the word for index 0x3C0
        li      t1, CONSOLE_BASE | PTE_V | PTE_R | PTE_W
        li      t0, 4                   # four device pages
        mv      t2, a2
paging_on.dev:
        sw      t1, 0(t2)
        addi    t2, t2, 4
        addi    t1, t1, PAGE_SIZE
        addi    t0, t0, -1
        bnez    t0, paging_on.dev

        # switch on: ptbr = level-1 table, then status.PG. The next instruction is already
        # fetched through the page tables (which map it to itself).
        csrw    ptbr, a1
        li      t0, ST_PG
        csrs    status, t0
        ret
.endif

        .data
        .align  4
known:                                  # (n, number of primes below n)
        .word   10, 4
        .word   100, 25
        .word   1000, 168
        .word   10000, 1229
        .word   100000, 9592
        .word   1000000, 78498
        .word   10000000, 664579
        .word   0, 0
mapped_pages:
        .word   0
msg_sieve:  .asciz "sieve: "
msg_below:  .asciz " primes below "
msg_paging: .asciz "sieve: paging on, "
msg_pages:  .asciz " pages identity-mapped\n"
msg_ok:     .asciz "OK\n"
msg_fail:   .asciz "FAIL: expected "

        .include "lib/console.s"

        .data
        .align  4
heap:                                   # free memory from here up to the stack
