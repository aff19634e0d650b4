#!/usr/bin/env python3
"""rig/qemu/sgl-selftest.py QEMU: prove the NVMe device's sgl property.

A guest's Linux cannot send an NVMe command with an SGL to a controller
that reports none (nvme-pci then builds PRPs only, and refuses PSDT in
passthrough commands), so the refusal that sgl=off adds cannot be seen from
the rig's guests unless the driver is wrong.  This drives the controller
itself through QEMU's qtest protocol (no guest code, -accel qtest): it
enables the controller, reads Identify Controller, creates an I/O queue
pair and reads one block twice, once with PRP1 and once with one SGL data
block descriptor.  Expected, for each value of the property:
  sgl=on   SGLS 1, both reads succeed (the device as Debian ships it)
  sgl=off  SGLS 0, the PRP read succeeds, the SGL read completes with
           Invalid Field in Command (SCT 0, SC 02h) and DNR
Prints one line per check; exits 1 on the first failure.
"""
import subprocess
import sys

BAR = 0xC0000000            # in q35's PCI hole, above MMCONFIG (0xb0000000)
ASQ, ACQ, IOSQ, IOCQ = 0x100000, 0x101000, 0x102000, 0x103000
IDBUF, RDBUF, QSIZE = 0x110000, 0x120000, 16
DEVFN = 4 << 3              # the device at 00:04.0 (addr=4 below)


class QTest:
    def __init__(self, qemu, sgl):
        self.p = subprocess.Popen(
            [qemu, '-machine', 'q35', '-accel', 'qtest', '-qtest', 'stdio',
             '-qtest-log', '/dev/null',
             '-display', 'none', '-vga', 'none', '-nic', 'none',
             '-parallel', 'none', '-serial', 'none', '-monitor', 'none',
             '-blockdev', 'driver=null-co,node-name=n0,size=1048576,read-zeroes=on',
             '-device', 'nvme,serial=selftest,drive=n0,bus=pcie.0,addr=4,sgl=' + sgl],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()
        while True:
            r = self.p.stdout.readline()
            if not r:
                sys.exit('qemu exited during: ' + line)
            if not r.startswith('IRQ'):	# asynchronous, not an answer
                break
        if not r.startswith('OK'):
            sys.exit('qtest: %s -> %s' % (line, r.strip()))
        return r.split()[1] if len(r.split()) > 1 else ''

    def cfg_writel(self, reg, val):
        self.cmd('outl 0xcf8 0x%x' % (0x80000000 | DEVFN << 8 | reg))
        self.cmd('outl 0xcfc 0x%x' % val)

    def writel(self, addr, val):
        self.cmd('writel 0x%x 0x%x' % (addr, val))

    def writeq(self, addr, val):
        self.cmd('writeq 0x%x 0x%x' % (addr, val))

    def readl(self, addr):
        return int(self.cmd('readl 0x%x' % addr), 16)

    def write(self, addr, data):
        self.cmd('write 0x%x %d 0x%s' % (addr, len(data), data.hex()))

    def read(self, addr, n):
        return bytes.fromhex(self.cmd('read 0x%x %d' % (addr, n))[2:])

    def quit(self):
        self.p.kill()	# qtest has no quit command
        self.p.wait(timeout=10)


def sqe(opcode, cid, nsid=0, psdt=0, dptr=b'\0' * 16, cdw=(0,) * 6):
    dw0 = opcode | (psdt << 14) | (cid << 16)
    return (dw0.to_bytes(4, 'little') + nsid.to_bytes(4, 'little') + b'\0' * 16 +
            dptr + b''.join(c.to_bytes(4, 'little') for c in cdw))


def prp(addr):
    return addr.to_bytes(8, 'little') + b'\0' * 8


class Queue:
    def __init__(self, q, qid, sq, cq):
        self.q, self.qid, self.sq, self.cq = q, qid, sq, cq
        self.tail = self.head = 0
        self.phase = 1

    def submit(self, cmd):
        """Submit one command, wait for its completion: (SCT, SC, DNR)."""
        q = self.q
        q.write(self.sq + 64 * self.tail, cmd)
        self.tail = (self.tail + 1) % QSIZE
        q.writel(BAR + 0x1000 + 8 * self.qid, self.tail)
        for _ in range(1000):
            q.cmd('clock_step 100000')
            dw3 = q.readl(self.cq + 16 * self.head + 12)
            if (dw3 >> 16) & 1 == self.phase:
                break
        else:
            sys.exit('no completion on queue %d' % self.qid)
        self.head = (self.head + 1) % QSIZE
        if self.head == 0:
            self.phase ^= 1
        q.writel(BAR + 0x1000 + 8 * self.qid + 4, self.head)
        status = dw3 >> 17
        return (status >> 8) & 7, status & 0xFF, status >> 14 & 1


def run(qemu, sgl):
    q = QTest(qemu, sgl)
    try:
        return session(q, sgl)
    finally:
        q.quit()		# also when a check fails


def session(q, sgl):
    q.cfg_writel(0x10, BAR)         # BAR0, 64-bit
    q.cfg_writel(0x14, 0)
    q.cfg_writel(0x04, 0x6)         # memory space, bus master
    q.writel(BAR + 0x24, (QSIZE - 1) << 16 | (QSIZE - 1))  # AQA
    q.writeq(BAR + 0x28, ASQ)
    q.writeq(BAR + 0x30, ACQ)
    q.writel(BAR + 0x14, 6 << 16 | 4 << 20 | 1)   # CC: IOSQES 6, IOCQES 4, EN
    for _ in range(100):
        if q.readl(BAR + 0x1C) & 1:
            break
        q.cmd('clock_step 100000')
    else:
        sys.exit('sgl=%s: the controller did not become ready' % sgl)
    admin = Queue(q, 0, ASQ, ACQ)
    ok = (0, 0, 0)
    st = admin.submit(sqe(0x06, 1, dptr=prp(IDBUF), cdw=(1, 0, 0, 0, 0, 0)))
    if st != ok:
        sys.exit('sgl=%s: Identify Controller failed: %s' % (sgl, st))
    sgls = int.from_bytes(q.read(IDBUF + 536, 4), 'little')
    st1 = admin.submit(sqe(0x05, 2, dptr=prp(IOCQ),
                           cdw=((QSIZE - 1) << 16 | 1, 1, 0, 0, 0, 0)))
    st2 = admin.submit(sqe(0x01, 3, dptr=prp(IOSQ),
                           cdw=((QSIZE - 1) << 16 | 1, 1 << 16 | 1, 0, 0, 0, 0)))
    if st1 != ok or st2 != ok:
        sys.exit('sgl=%s: creating the I/O queues failed: %s %s' % (sgl, st1, st2))
    io = Queue(q, 1, IOSQ, IOCQ)
    rd_prp = io.submit(sqe(0x02, 4, nsid=1, dptr=prp(RDBUF)))
    # one SGL Data Block descriptor: address, length, type 0 in byte 15
    desc = RDBUF.to_bytes(8, 'little') + (512).to_bytes(4, 'little') + b'\0' * 4
    rd_sgl = io.submit(sqe(0x02, 5, nsid=1, psdt=1, dptr=desc))
    return sgls, rd_prp, rd_sgl


def main():
    qemu = sys.argv[1]
    want = {'on': (1, (0, 0, 0), (0, 0, 0)),
            'off': (0, (0, 0, 0), (0, 2, 1))}    # Invalid Field, DNR
    for sgl in ('on', 'off'):
        got = run(qemu, sgl)
        line = 'sgl=%s: SGLS %d, PRP read (sct, sc, dnr) %s, SGL read %s' % ((sgl,) + got)
        if got != want[sgl]:
            print('not ok - ' + line + ', want SGLS %d, %s, %s' % want[sgl])
            sys.exit(1)
        print('ok - ' + line)


if __name__ == '__main__':
    main()
