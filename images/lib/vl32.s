# lib/vl32.s -- names for the VL32 machine's constants (no code, no data).
#
# Include this file once, at the top of a program:   .include "lib/vl32.s"
# The values mirror vmlab/isa/arch.py and vmlab/devices/memmap.py (see docs/machine.md).

# --- memory map -----------------------------------------------------------------------------
.equ RAM_BASE,      0x00000000
.equ CONSOLE_BASE,  0xF0000000      # console UART
.equ TIMER_BASE,    0xF0001000      # timer
.equ DISK_BASE,     0xF0002000      # block device
.equ POWER_BASE,    0xF0003000      # power controller

# console registers (offsets from CONSOLE_BASE); device registers are always words
.equ CON_TX,        0x00            # write: send the low byte
.equ CON_RX,        0x04            # read: next input byte, or 0xFFFFFFFF if none
.equ CON_STATUS,    0x08            # bit 0 input ready, bit 1 can send
.equ CON_CTRL,      0x0C            # bit 0 input interrupt enable

# disk registers (offsets from DISK_BASE)
.equ DSK_SECTOR,    0x00            # sector number
.equ DSK_ADDR,      0x04            # physical RAM address of a 512-byte buffer
.equ DSK_CMD,       0x08            # write 1 = read sector, 2 = write sector
.equ DSK_STATUS,    0x0C            # 0 ok, 1 bad sector, 2 bad address, 3 bad command, 4 no disk
.equ DSK_COUNT,     0x10            # number of sectors
.equ DSK_CTRL,      0x14            # bit 0 completion interrupt enable

# power controller registers (offsets from POWER_BASE)
.equ PWR_CTRL,      0x00            # write 1 = power off, 2 = reboot
.equ PWR_EXIT_CODE, 0x04            # exit code reported on power off

# --- status register bits ---------------------------------------------------------------------
.equ ST_MODE,       0x01            # 1 = kernel mode, 0 = user mode
.equ ST_IE,         0x02            # interrupts enabled
.equ ST_PMODE,      0x04            # mode before the last trap (eret restores it)
.equ ST_PIE,        0x08            # IE before the last trap
.equ ST_PG,         0x10            # paging on

# --- trap causes (the value of the cause CSR) ---------------------------------------------------
.equ CAUSE_ILLEGAL,          1
.equ CAUSE_PRIVILEGED,       2
.equ CAUSE_MISALIGNED_FETCH, 3
.equ CAUSE_MISALIGNED_LOAD,  4
.equ CAUSE_MISALIGNED_STORE, 5
.equ CAUSE_FETCH_PAGE_FAULT, 6
.equ CAUSE_LOAD_PAGE_FAULT,  7
.equ CAUSE_STORE_PAGE_FAULT, 8
.equ CAUSE_SYSCALL,          9
.equ CAUSE_BREAKPOINT,       10
.equ CAUSE_ACCESS_FAULT,     11

# --- paging -----------------------------------------------------------------------------------
.equ PAGE_SIZE,     4096
.equ PTE_V,         0x01            # valid
.equ PTE_R,         0x02            # readable
.equ PTE_W,         0x04            # writable
.equ PTE_X,         0x08            # executable
.equ PTE_U,         0x10            # user may access
.equ PTE_A,         0x20            # accessed (set by the hardware)
.equ PTE_D,         0x40            # dirty (set by the hardware)
