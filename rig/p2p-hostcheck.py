#!/usr/bin/env python3
"""The host's side of the P2P test (tests/p2p-vfio.c), around a guest boot.

  p2p-hostcheck.py prefill FILE SEED [SIZE]
      Write FILE (SIZE bytes, default 16 MiB: the ivshmem BAR that
      rig/vm.sh --ivshmem FILE gives the guest) with pattern(SEED, offset).
  p2p-hostcheck.py check FILE SEED GUEST_TAP NAME
      After the guest is gone: read what the guest declared in its TAP
      ("p2p-host: ..." lines, in order: "prefill seed=S", "expect bar_off=O
      len=L seed=S" for each NVMe read into the BAR, "scratch bar_off=O
      len=L" where a request that failed may or may not have written,
      "end failed=N") and verify FILE: every declared read put its seeded
      pattern there, and every other byte still holds the host's pattern (no
      stray DMA).  Prints TAP on stdout.

The pattern is the one of tests/p2p-vfio.c: the little-endian 64-bit word at
byte offset o of a stream seeded s is ((s << 32) | (o / 8)) *
0x9E3779B97F4A7C15 mod 2^64.
"""
import array
import re
import sys

K = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1
DECL = re.compile(r'^\s*p2p-host: (\w+)(.*)$')


def pattern(seed, base, length):
    hi = (seed & 0xffffffff) << 32
    w0 = base // 8
    words = array.array('Q', [((hi | ((w0 + i) & 0xffffffff)) * K) & M64
                              for i in range(length // 8)])
    if sys.byteorder != 'little':
        words.byteswap()
    return words.tobytes()


def size_arg(s):
    m = re.fullmatch(r'(\d+)([KMG]?)', s)
    if not m:
        raise SystemExit('bad size %s' % s)
    return int(m.group(1)) << {'': 0, 'K': 10, 'M': 20, 'G': 30}[m.group(2)]


def prefill(path, seed, size):
    with open(path, 'wb') as f:
        f.write(pattern(seed, 0, size))


def fields(rest):
    return {k: int(v, 0) for k, v in re.findall(r'(\w+)=(\S+)', rest)}


def check(path, seed, guest_tap, name):
    out = []
    n = [0]

    def point(ok, text, diag=()):
        n[0] += 1
        out.append('%sok %d %s' % ('' if ok else 'not ', n[0], text))
        out.extend('# ' + d for d in diag)

    with open(path, 'rb') as f:
        actual = f.read()
    size = len(actual)
    decls = []
    try:
        with open(guest_tap, errors='replace') as f:
            for line in f:
                m = DECL.match(line)
                if m:
                    decls.append((m.group(1), fields(m.group(2))))
    except OSError as e:
        decls = []
        out.append('# cannot read %s: %s' % (guest_tap, e))

    kinds = [k for k, _ in decls]
    seeds = [d.get('seed') for k, d in decls if k == 'prefill']
    complete = 'end' in kinds and seeds == [seed]
    point(complete, '%s.host.declarations: the guest saw seed %s and ran to its end'
          % (name, seeds[0] if seeds else 'none'),
          [] if complete else ['declarations: %s' % ' '.join(kinds) or 'none'])

    # What the file must hold: the host's pattern, overlaid in the guest's
    # order by every declared read; scratch areas take whatever is there.
    expected = bytearray(pattern(seed, 0, size))
    owner = [None] * (size // 4096 + 1)	# which declaration a 4 KiB block was last written by
    bad_decl = []
    nexp = 0
    for i, (kind, d) in enumerate(decls):
        if kind not in ('expect', 'scratch'):
            continue
        off, length = d.get('bar_off', -1), d.get('len', -1)
        if off < 0 or length <= 0 or off + length > size or off % 8 or length % 8:
            bad_decl.append('%s %s' % (kind, d))
            continue
        if kind == 'expect':
            expected[off:off + length] = pattern(d['seed'], 0, length)
            nexp += 1
        else:
            expected[off:off + length] = actual[off:off + length]
        for b in range(off // 4096, (off + length - 1) // 4096 + 1):
            owner[b] = (kind, i)

    # Sum, by block, the bytes of each kind and the blocks that differ.
    exp_bytes = host_bytes = scratch_bytes = 0
    exp_bad, host_bad = [], []
    for b in range(0, (size + 4095) // 4096):
        lo, hi = b * 4096, min(size, b * 4096 + 4096)
        same = actual[lo:hi] == expected[lo:hi]
        kind = owner[b][0] if owner[b] else 'host'
        if kind == 'expect':
            exp_bytes += hi - lo
            if not same:
                exp_bad.append(lo)
        elif kind == 'scratch':
            scratch_bytes += hi - lo
        else:
            host_bytes += hi - lo
            if not same:
                host_bad.append(lo)

    def first(offs):
        for off in offs[:8]:
            lo = off
            while actual[lo] == expected[lo]:
                lo += 1
            yield 'block %#x differs from byte %#x: file %s, expected %s' % (
                off, lo, actual[lo:lo + 8].hex(), expected[lo:lo + 8].hex())

    point(not bad_decl and nexp > 0 and not exp_bad,
          '%s.host.dma-into-bar: %d NVMe reads into the BAR, %d bytes (4 KiB blocks) '
          'checked in the host file' % (name, nexp, exp_bytes),
          bad_decl + ['%d blocks differ' % len(exp_bad)] + list(first(exp_bad))
          if exp_bad or bad_decl or not nexp else [])
    point(not host_bad,
          '%s.host.rest-of-bar: %d bytes untouched by DMA still hold the host\'s pattern '
          '(%d scratch bytes not checked)' % (name, host_bytes, scratch_bytes),
          ['%d blocks differ' % len(host_bad)] + list(first(host_bad)) if host_bad else [])
    print('TAP version 13')
    print('1..%d' % n[0])
    print('\n'.join(out))
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == 'prefill':
        prefill(argv[2], int(argv[3], 0), size_arg(argv[4]) if len(argv) > 4 else 16 << 20)
        return 0
    if len(argv) == 6 and argv[1] == 'check':
        return check(argv[2], int(argv[3], 0), argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
