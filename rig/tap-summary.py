#!/usr/bin/env python3
"""Sum TAP files into one line: "N passed, N failed, N skipped".

Every test point counts once, at the deepest level that has one: a program
run by the guest whose own TAP (indented, as a subtest block before its
result line) lists 12 tests counts as those 12.  A parent whose subtests all
passed but which itself is "not ok" (the program crashed, timed out, or exited
non-zero) adds one failure.  A file whose plan is not met ("1..N" with fewer
results) counts each missing result as a failure, and so does a "Bail out!".
"ok ... # SKIP" is a skip, never a pass; "# TODO" failures are failures too.
A top-level test that fails of its own (not through a subtest) is listed
with the last lines of its output, the indented lines before its result (a
guest program's reason for failing, say), so that a CI log tells why.
"""
import re
import sys
from collections import deque

POINT = re.compile(r'^(\s*)(not ok|ok)\s+(\d+)\s*-?\s*([^#]*?)\s*(#\s*(.*))?$')
PLAN = re.compile(r'^(\s*)1\.\.(\d+)')
TAIL = 5  # lines of a failed test's output shown under it


def parse(lines):
    """Return (passed, failed, skipped, failures) for one TAP stream."""
    # stack of frames: [indent, planned, results_seen, (p, f, s), fails]
    stack = [[0, None, 0, [0, 0, 0], []]]
    pending = None  # totals of the most recent closed subtest block
    output = deque(maxlen=TAIL)  # a top-level test's last output lines

    def close_to(indent):
        nonlocal pending
        while len(stack) > 1 and stack[-1][0] > indent:
            fr = stack.pop()
            missing = (fr[1] or 0) - fr[2]
            if missing > 0:
                fr[3][1] += missing
                fr[4].append('%d planned result(s) missing' % missing)
            pending = fr

    for raw in lines:
        line = raw.rstrip('\n')
        if line.strip().startswith('Bail out!'):
            ind = len(line) - len(line.lstrip())
            close_to(ind)
            stack[-1][3][1] += 1
            stack[-1][4].append(line.strip())
            continue
        m = PLAN.match(line)
        if m:
            ind = len(m.group(1))
            close_to(ind)
            if ind > stack[-1][0] or (ind == 0 and len(stack) == 1 and stack[0][1] is not None):
                stack.append([ind, int(m.group(2)), 0, [0, 0, 0], []])
            else:
                stack[-1][1] = int(m.group(2))
            continue
        m = POINT.match(line)
        if not m:
            if line[:1].isspace() and line.strip():
                output.append(line.strip())
            continue
        ind = len(m.group(1))
        if ind > stack[-1][0]:
            # results without a plan of their own: an implicit block
            stack.append([ind, None, 0, [0, 0, 0], []])
        pending = None
        close_to(ind)
        fr = stack[-1]
        fr[2] += 1
        ok = m.group(2) == 'ok'
        name = m.group(4).strip()
        directive = (m.group(6) or '').strip()
        skip = ok and directive.upper().startswith('SKIP')
        sub = pending if pending is not None and pending[0] > ind else None
        own = False  # this point is a failure of its own, not its subtests'
        pending = None
        if sub is not None:
            p, f, s = sub[3]
            fr[3][0] += p
            fr[3][1] += f
            fr[3][2] += s
            fr[4].extend('%s: %s' % (name, x) for x in sub[4])
            if not ok and f == 0:
                fr[3][1] += 1
                fr[4].append('%s (%s)' % (name, directive))
                own = True
        elif skip:
            fr[3][2] += 1
        elif ok:
            fr[3][0] += 1
        else:
            fr[3][1] += 1
            fr[4].append('%s%s' % (name, ' (%s)' % directive if directive else ''))
            own = True
        if ind == 0:
            if own and len(stack) == 1:
                fr[4][-1] += ''.join('\n        | ' + x for x in output)
            output.clear()
        # a block ends at its parent's result line
    close_to(-1)
    fr = stack[0]
    missing = (fr[1] or 0) - fr[2]
    if missing > 0:
        fr[3][1] += missing
        fr[4].append('%d planned result(s) missing' % missing)
    return fr[3][0], fr[3][1], fr[3][2], fr[4]


def main(paths):
    tp = tf = ts = 0
    for path in paths:
        with open(path, errors='replace') as fh:
            p, f, s, fails = parse(fh)
        if p + f + s == 0:
            f, fails = 1, ['no test results']
        tp, tf, ts = tp + p, tf + f, ts + s
        print('%-40s %4d passed, %d failed, %d skipped' % (path, p, f, s))
        for x in fails:
            print('    FAIL: %s' % x)
    print('%d passed, %d failed, %d skipped' % (tp, tf, ts))
    return 1 if tf else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
