"""The VL32 machine's physical memory map and device register offsets (one table, documented).

=========================  ===========  ==========================================================
physical address           size         what
=========================  ===========  ==========================================================
0x0000_0000                RAM size     RAM (4 MiB by default); images load at 0x1000 by default
0xF000_0000                4 KiB        console UART
0xF000_1000                4 KiB        timer
0xF000_2000                4 KiB        block device (disk)
0xF000_3000                4 KiB        power controller
=========================  ===========  ==========================================================

Any other address is an access fault. Device registers are 32-bit words; byte and half-word
accesses to a device are access faults. Guests see the same map in guest-physical space.
"""

from __future__ import annotations

RAM_BASE = 0x0000_0000
DEFAULT_RAM = 4 * 1024 * 1024
DEFAULT_ORIGIN = 0x1000  # where .text starts unless the program says .org

MMIO_BASE = 0xF000_0000
MMIO_END = 0xF000_4000  # exclusive
DEVICE_SPAN = 0x1000

CONSOLE_BASE = 0xF000_0000
TIMER_BASE = 0xF000_1000
DISK_BASE = 0xF000_2000
POWER_BASE = 0xF000_3000

# console UART registers (offsets)
CON_TX = 0x00  # write: send the low byte
CON_RX = 0x04  # read: next input byte, or 0xFFFFFFFF when there is none
CON_STATUS = 0x08  # read: bit 0 = input available, bit 1 = can transmit (always 1)
CON_CTRL = 0x0C  # read/write: bit 0 = raise the console interrupt while input is available

# timer registers (offsets); the compare register is the CPU's timecmp CSR
TMR_NOW_LO = 0x00  # read: cycle counter, low word
TMR_NOW_HI = 0x04  # read: cycle counter, high word
TMR_CMP_LO = 0x08  # read/write: timecmp, low word
TMR_CMP_HI = 0x0C  # read/write: timecmp, high word
TMR_INTERVAL = 0x10  # write N: timecmp = now + N; read: cycles left (saturated to 32 bits)

# disk registers (offsets); sectors are 512 bytes, transfers are DMA to/from physical RAM
SECTOR_SIZE = 512
DSK_SECTOR = 0x00  # read/write: sector number
DSK_ADDR = 0x04  # read/write: physical address of the 512-byte buffer in RAM
DSK_CMD = 0x08  # write: 1 = read sector into RAM, 2 = write sector from RAM
DSK_STATUS = 0x0C  # read: 0 = ok, 1 = bad sector, 2 = bad buffer address, 3 = bad command,
#                    4 = no disk; bit 8 = completion interrupt pending. Write: clears bit 8.
DSK_COUNT = 0x10  # read: number of sectors on the disk
DSK_CTRL = 0x14  # read/write: bit 0 = raise the disk interrupt when a command completes
DISK_CMD_READ = 1
DISK_CMD_WRITE = 2
DISK_OK = 0
DISK_BAD_SECTOR = 1
DISK_BAD_ADDR = 2
DISK_BAD_CMD = 3
DISK_NONE = 4
DISK_IRQ_PENDING = 0x100
DISK_SECTOR_CYCLES = 200  # modelled cost of moving one sector

# power controller registers (offsets)
PWR_CTRL = 0x00  # write 1 = power off, 2 = reboot
PWR_EXIT_CODE = 0x04  # read/write: the exit code reported on power off
PWR_OFF = 1
PWR_REBOOT = 2

DEVICE_NAMES: dict[int, str] = {
    CONSOLE_BASE: "console",
    TIMER_BASE: "timer",
    DISK_BASE: "disk",
    POWER_BASE: "power",
}
