# minikernel/user.s -- the user programs: the image every process gets its own copy of.
#
# The kernel copies the pages from ublob_start to ublob_end into fresh frames for each process
# and maps them at UBASE = 0x00400000 (code pages read + execute, data pages read + write, all
# user-accessible). So the code runs at a different address than where it was assembled:
#
#   * branches, `jal` and `call` are relative to pc: they work anywhere, nothing to do;
#   * an address of something in the image must be converted: `la a0, msg + UOFF` gives the
#     user virtual address of `msg` (UOFF = UBASE - ublob_start).
#
# User code cannot touch the kernel or the devices: it can only compute and make system calls
# (`syscall` with the number in a0, arguments in a1..a3, result in a0; every other register is
# kept). Each program prints whole lines "[pid] text" with one write() per line, so the lines of
# different processes never mix.
#
#   pid  program  what it does                                           how it ends
#   1    primes   counts primes by trial division: pure computation      exit 0
#   2    collatz  longest Collatz chains, yields after every chunk       exit 0
#   3    faulty   passes bad pointers to write(), then stores to 0       killed: store page fault
#   4    ticker   sleeps TICKER_N times, checks it slept long enough     exit 42
#   5    pinger   getpid + yield round trips: a system-call storm        exit 0
#   6    rogue    tries to halt the machine from user mode               killed: privileged instruction
#   7    junk     executes a word that is not an instruction             killed: illegal instruction

        .text
        .align  4096
ublob_start:
        .equ    UOFF, UBASE - ublob_start      # image address + UOFF = user virtual address
        .equ    LN_MAX, 128                    # longest output line, '\n' included

# ==================================================================================================
# System call wrappers: C-like (arguments in a0.., result in a0).
# ==================================================================================================

# u_exit(a0 = code): never returns.
u_exit:
        mv      a1, a0
        li      a0, SYS_EXIT
        syscall
u_exit.hang:
        j       u_exit.hang             # not reached

# u_write(a0 = buffer, a1 = length) -> a0 = length written, or a negative error
u_write:
        mv      a2, a1
        mv      a1, a0
        li      a0, SYS_WRITE
        syscall
        ret

# u_yield() -> 0
u_yield:
        li      a0, SYS_YIELD
        syscall
        ret

# u_sleep(a0 = ticks) -> 0
u_sleep:
        mv      a1, a0
        li      a0, SYS_SLEEP
        syscall
        ret

# u_getpid() -> a0 = pid
u_getpid:
        li      a0, SYS_GETPID
        syscall
        ret

# u_ticks() -> a0 = timer ticks since boot
u_ticks:
        li      a0, SYS_TICKS
        syscall
        ret

# ==================================================================================================
# Line output: build a line in ln_buf, then write it with one system call.
#   call ln_begin / ln_str / ln_udec / ln_int / ln_char ... / ln_end
# ==================================================================================================

# u_init(): every program calls this first: remember our pid for the "[pid] " prefix.
u_init:
        addi    sp, sp, -4
        sw      ra, 0(sp)
        call    u_getpid
        la      t0, my_pid + UOFF
        sw      a0, 0(t0)
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret

# ln_begin(): start a new line with "[pid] ".
ln_begin:
        addi    sp, sp, -4
        sw      ra, 0(sp)
        la      t0, ln_len + UOFF
        sw      zero, 0(t0)
        li      a0, '['
        call    ln_char
        la      t0, my_pid + UOFF
        lw      a0, 0(t0)
        call    ln_udec
        li      a0, ']'
        call    ln_char
        li      a0, ' '
        call    ln_char
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret

# ln_char(a0 = byte): append one byte (dropped if the line is full). Changes t0..t2 only.
ln_char:
        la      t0, ln_len + UOFF
        lw      t1, 0(t0)
        li      t2, LN_MAX - 1          # keep room for the '\n'
        bgeu    t1, t2, ln_char.full
        la      t2, ln_buf + UOFF
        add     t2, t2, t1
        sb      a0, 0(t2)
        addi    t1, t1, 1
        sw      t1, 0(t0)
ln_char.full:
        ret

# ln_str(a0 = string, a user virtual address): append a NUL-terminated string.
ln_str:
        addi    sp, sp, -8
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        mv      s0, a0
ln_str.loop:
        lbu     a0, 0(s0)
        beqz    a0, ln_str.done
        call    ln_char
        addi    s0, s0, 1
        j       ln_str.loop
ln_str.done:
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        addi    sp, sp, 8
        ret

# ln_udec(a0 = unsigned number): append it in decimal.
ln_udec:
        addi    sp, sp, -24
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        addi    s0, sp, 24              # digits go backwards into sp+8 .. sp+23
        li      t2, 10
ln_udec.digit:
        remu    t3, a0, t2
        divu    a0, a0, t2
        addi    t3, t3, '0'
        addi    s0, s0, -1
        sb      t3, 0(s0)
        bnez    a0, ln_udec.digit
ln_udec.out:
        lbu     a0, 0(s0)
        call    ln_char
        addi    s0, s0, 1
        addi    t0, sp, 24
        bltu    s0, t0, ln_udec.out
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        addi    sp, sp, 24
        ret

# ln_int(a0 = signed number): append it in decimal, with '-' when negative.
ln_int:
        bgez    a0, ln_udec
        addi    sp, sp, -8
        sw      ra, 0(sp)
        sw      a0, 4(sp)
        li      a0, '-'
        call    ln_char
        lw      a0, 4(sp)
        neg     a0, a0
        lw      ra, 0(sp)
        addi    sp, sp, 8
        j       ln_udec

# ln_end(): append '\n' and write the line out (one system call).
ln_end:
        addi    sp, sp, -4
        sw      ra, 0(sp)
        la      t0, ln_len + UOFF
        lw      t1, 0(t0)
        la      a0, ln_buf + UOFF
        add     t2, a0, t1
        li      t3, '\n'
        sb      t3, 0(t2)
        addi    a1, t1, 1
        call    u_write                 # (buffer, length)
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret

# ln_say(a0 = string): a whole line "[pid] string".
ln_say:
        addi    sp, sp, -8
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        mv      s0, a0
        call    ln_begin
        mv      a0, s0
        call    ln_str
        call    ln_end
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        addi    sp, sp, 8
        ret

# ==================================================================================================
# pid 1, primes: count the primes below PRIMES_N by trial division; report every PRIMES_EVERY-th.
# It never gives the CPU away: only the timer interrupt takes it away (preemption).
# ==================================================================================================
prog_primes:
        call    u_init
        li      s0, 2                   # s0 = the candidate
        li      s1, 0                   # s1 = primes found
primes.next:
        li      t0, PRIMES_N
        bgeu    s0, t0, primes.done
        mv      a0, s0
        call    is_prime
        beqz    a0, primes.skip
        addi    s1, s1, 1
        li      t0, PRIMES_EVERY
        remu    t0, s1, t0
        bnez    t0, primes.skip
        call    ln_begin                # "[1] primes: prime #500 is 3571"
        la      a0, u_s_prime_no + UOFF
        call    ln_str
        mv      a0, s1
        call    ln_udec
        la      a0, u_s_is + UOFF
        call    ln_str
        mv      a0, s0
        call    ln_udec
        call    ln_end
primes.skip:
        addi    s0, s0, 1
        j       primes.next
primes.done:
        call    ln_begin                # "[1] primes: 4203 primes below 40000"
        la      a0, u_s_primes + UOFF
        call    ln_str
        mv      a0, s1
        call    ln_udec
        la      a0, u_s_below + UOFF
        call    ln_str
        li      a0, PRIMES_N
        call    ln_udec
        call    ln_end
        li      a0, 0
        call    u_exit

# is_prime(a0 = n) -> a0 = 1 if n is prime, else 0. Odd divisors up to the square root.
is_prime:
        li      t0, 2
        bltu    a0, t0, is_prime.no     # 0 and 1
        li      t0, 4
        bltu    a0, t0, is_prime.yes    # 2 and 3
        andi    t0, a0, 1
        beqz    t0, is_prime.no         # even
        li      t1, 3                   # t1 = divisor
is_prime.loop:
        mul     t2, t1, t1
        bgtu    t2, a0, is_prime.yes    # divisor^2 > n: no divisor found
        remu    t2, a0, t1
        beqz    t2, is_prime.no
        addi    t1, t1, 2
        j       is_prime.loop
is_prime.yes:
        li      a0, 1
        ret
is_prime.no:
        li      a0, 0
        ret

# ==================================================================================================
# pid 2, collatz: for n = 1 .. COLLATZ_N find the n with the longest chain n -> 1 (n/2 if even,
# 3n+1 if odd). Every COLLATZ_CHUNK values it reports and yields the CPU (a cooperative process).
# ==================================================================================================
prog_collatz:
        call    u_init
        li      s0, 1                   # s0 = n
        li      s1, 0                   # s1 = most steps so far
        li      s2, 1                   # s2 = the n that took them
collatz.loop:
        li      t0, COLLATZ_N
        bgtu    s0, t0, collatz.done
        mv      a0, s0
        call    collatz_steps
        bgeu    s1, a0, collatz.not_best    # the first n with the most steps wins
        mv      s1, a0
        mv      s2, s0
collatz.not_best:
        li      t0, COLLATZ_CHUNK
        remu    t0, s0, t0
        bnez    t0, collatz.next
        call    collatz_report
        call    u_yield
collatz.next:
        addi    s0, s0, 1
        j       collatz.loop
collatz.done:
        addi    s0, s0, -1              # = COLLATZ_N
        li      t0, COLLATZ_CHUNK
        remu    t0, s0, t0
        beqz    t0, collatz.reported    # the last chunk has just been reported
        call    collatz_report
collatz.reported:
        la      a0, u_s_collatz_done + UOFF
        call    ln_say
        li      a0, 0
        call    u_exit

# collatz_report(): "[2] collatz: 1..500: 327 takes 143 steps" from s0 (n), s1 (steps), s2.
collatz_report:
        addi    sp, sp, -4
        sw      ra, 0(sp)
        call    ln_begin
        la      a0, u_s_collatz + UOFF
        call    ln_str
        mv      a0, s0
        call    ln_udec
        la      a0, u_s_colon + UOFF
        call    ln_str
        mv      a0, s2
        call    ln_udec
        la      a0, u_s_takes + UOFF
        call    ln_str
        mv      a0, s1
        call    ln_udec
        la      a0, u_s_steps + UOFF
        call    ln_str
        call    ln_end
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret

# collatz_steps(a0 = n >= 1) -> a0 = number of steps to reach 1.
collatz_steps:
        li      t0, 0                   # t0 = steps
        li      t1, 1
collatz_steps.loop:
        beq     a0, t1, collatz_steps.done
        andi    t2, a0, 1
        beqz    t2, collatz_steps.even
        slli    t2, a0, 1               # odd: n = 3n + 1
        add     a0, a0, t2
        addi    a0, a0, 1
        j       collatz_steps.count
collatz_steps.even:
        srli    a0, a0, 1               # even: n = n / 2
collatz_steps.count:
        addi    t0, t0, 1
        j       collatz_steps.loop
collatz_steps.done:
        mv      a0, t0
        ret

# ==================================================================================================
# pid 3, faulty: hands write() pointers it has no right to (each must be refused with an error,
# never crash the kernel), then stores to address 0 (kernel memory) and gets killed.
# ==================================================================================================
prog_faulty:
        call    u_init
        li      a0, 0x00001000          # the kernel's own code
        li      a1, 16
        la      s1, u_s_w_kernel + UOFF
        call    faulty_try
        li      a0, 0x00600000          # user region, but nothing mapped there
        li      a1, 16
        la      s1, u_s_w_unmapped + UOFF
        call    faulty_try
        la      a0, ublob_end + UOFF - 8    # the last 8 bytes of the data, and 8 bytes beyond
        li      a1, 16
        la      s1, u_s_w_straddle + UOFF
        call    faulty_try
        la      a0, u_s_faulty + UOFF   # a good buffer but far too long
        li      a1, 100000
        la      s1, u_s_w_long + UOFF
        call    faulty_try
        li      a0, 99                  # a system call that does not exist
        syscall
        mv      s0, a0
        call    ln_begin
        la      a0, u_s_sys99 + UOFF
        call    ln_str
        mv      a0, s0
        call    ln_int
        call    ln_end
        la      a0, u_s_store0 + UOFF
        call    ln_say
faulty.store:
        sw      zero, 0(zero)           # store to virtual address 0: a kernel page -> killed here
        la      a0, u_s_alive + UOFF
        call    ln_say
        li      a0, 1
        call    u_exit

# faulty_try(a0 = buffer, a1 = length, s1 = description): "[3] faulty: <description> = <result>"
faulty_try:
        addi    sp, sp, -8
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        call    u_write
        mv      s0, a0                  # s0 = the result
        call    ln_begin
        la      a0, u_s_faulty + UOFF
        call    ln_str
        mv      a0, s1
        call    ln_str
        mv      a0, s0
        call    ln_int
        call    ln_end
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        addi    sp, sp, 8
        ret

# ==================================================================================================
# pid 4, ticker: sleep(TICKER_SLEEP) TICKER_N times and check with ticks() that each sleep lasted
# at least that long. Exits with 42 (a code the summary checks) if every sleep was long enough.
# ==================================================================================================
prog_ticker:
        call    u_init
        li      s0, 1                   # s0 = round
        li      s3, 0                   # s3 = sleeps that ended too early
ticker.loop:
        li      t0, TICKER_N
        bgtu    s0, t0, ticker.done
        call    u_ticks
        mv      s1, a0                  # s1 = ticks before
        li      a0, TICKER_SLEEP
        call    u_sleep
        call    u_ticks
        sub     s2, a0, s1              # s2 = ticks slept
        li      t0, TICKER_SLEEP
        bgeu    s2, t0, ticker.ok
        addi    s3, s3, 1
ticker.ok:
        call    ln_begin                # "[4] ticker: woke up 3/8"
        la      a0, u_s_woke + UOFF
        call    ln_str
        mv      a0, s0
        call    ln_udec
        li      a0, '/'
        call    ln_char
        li      a0, TICKER_N
        call    ln_udec
        call    ln_end
        addi    s0, s0, 1
        j       ticker.loop
ticker.done:
        call    ln_begin                # "[4] ticker: 0 sleeps ended early"
        la      a0, u_s_ticker + UOFF
        call    ln_str
        mv      a0, s3
        call    ln_udec
        la      a0, u_s_early + UOFF
        call    ln_str
        call    ln_end
        li      a0, 42
        beqz    s3, ticker.exit
        li      a0, 1
ticker.exit:
        call    u_exit

# ==================================================================================================
# pid 5, pinger: PING_N rounds of getpid() + yield(): almost all of its time is spent in the
# kernel, entering and leaving it. Exits with the number of wrong getpid answers (0).
# ==================================================================================================
prog_pinger:
        call    u_init
        li      s0, 0                   # s0 = rounds done
        li      s1, 0                   # s1 = wrong answers
pinger.loop:
        li      t0, PING_N
        bgeu    s0, t0, pinger.done
        call    u_getpid
        la      t0, my_pid + UOFF
        lw      t0, 0(t0)
        beq     a0, t0, pinger.right
        addi    s1, s1, 1
pinger.right:
        call    u_yield
        addi    s0, s0, 1
        li      t0, PING_EVERY
        remu    t0, s0, t0
        bnez    t0, pinger.loop
        call    ln_begin                # "[5] pinger: 1000 round trips"
        la      a0, u_s_pinger + UOFF
        call    ln_str
        mv      a0, s0
        call    ln_udec
        la      a0, u_s_trips + UOFF
        call    ln_str
        call    ln_end
        j       pinger.loop
pinger.done:
        call    ln_begin                # "[5] pinger: 0 wrong answers"
        la      a0, u_s_pinger + UOFF
        call    ln_str
        mv      a0, s1
        call    ln_udec
        la      a0, u_s_wrong + UOFF
        call    ln_str
        call    ln_end
        mv      a0, s1
        call    u_exit

# ==================================================================================================
# pid 6, rogue: tries to switch the machine off with `halt`, a privileged instruction.
# ==================================================================================================
prog_rogue:
        call    u_init
        la      a0, u_s_rogue + UOFF
        call    ln_say
        li      a0, 0
rogue.halt:
        halt                            # user mode: trap, cause "privileged instruction"
        la      a0, u_s_alive + UOFF
        call    ln_say
        li      a0, 1
        call    u_exit

# ==================================================================================================
# pid 7, junk: executes a word that is no instruction at all (opcode 0xFF is reserved).
# ==================================================================================================
prog_junk:
        call    u_init
        la      a0, u_s_junk + UOFF
        call    ln_say
junk.bad:
        .word   0x000000FF              # trap, cause "illegal instruction"
        la      a0, u_s_alive + UOFF
        call    ln_say
        li      a0, 1
        call    u_exit

# --- read-only strings (in the code pages) --------------------------------------------------------
u_s_prime_no:       .asciz "primes: prime #"
u_s_is:             .asciz " is "
u_s_primes:         .asciz "primes: "
u_s_below:          .asciz " primes below "
u_s_collatz:        .asciz "collatz: 1.."
u_s_colon:          .asciz ": "
u_s_takes:          .asciz " takes "
u_s_steps:          .asciz " steps"
u_s_collatz_done:   .asciz "collatz: done"
u_s_faulty:         .asciz "faulty: "
u_s_w_kernel:       .asciz "write(kernel address 0x00001000, 16) = "
u_s_w_unmapped:     .asciz "write(unmapped 0x00600000, 16) = "
u_s_w_straddle:     .asciz "write(end of data page, 16) = "
u_s_w_long:         .asciz "write(buffer, 100000) = "
u_s_sys99:          .asciz "faulty: syscall 99 = "
u_s_store0:         .asciz "faulty: storing to address 0x00000000"
u_s_alive:          .asciz "still alive?!"
u_s_woke:           .asciz "ticker: woke up "
u_s_ticker:         .asciz "ticker: "
u_s_early:          .asciz " sleeps ended early"
u_s_pinger:         .asciz "pinger: "
u_s_trips:          .asciz " round trips"
u_s_wrong:          .asciz " wrong answers"
u_s_rogue:          .asciz "rogue: trying to halt the machine"
u_s_junk:           .asciz "junk: executing a word that is not an instruction"

# --- data: each process has its own copy (read + write) ------------------------------------------
        .align  4096
udata_start:
my_pid:         .word   0               # set by u_init
ln_len:         .word   0               # bytes in ln_buf
ln_buf:         .space  LN_MAX
        .align  4096
ublob_end:
