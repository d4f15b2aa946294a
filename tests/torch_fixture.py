#!/usr/bin/python3
"""torch_fixture.py — what tests/lstm_torch.py and tests/attn_torch.py share.

Those scripts compute PyTorch's answers on fixed random problems and write
them, inputs included, as a fixture: text that tests/testutil.h (tu_fixture)
reads, so `make check` needs no PyTorch.  Format, one value list per line:

    # comment lines
    case NAME
    name count v1 v2 ...

Inputs are drawn on a grid of 0.01 (short to write) from Python's
random.Random(seed), whose random() sequence Python keeps the same across
versions; PyTorch and the C tests both use the float32 nearest to each
(f32 here, strtof there).  Outputs are PyTorch's float64 results to 8 digits.

tests/trace_torch.py writes another form (tests/test_trace_seq.c): lines of
anchors into a --trace, tab-separated, the last field the values; diff reads
them as one case "trace" keyed by the anchors.

    torch_fixture.py diff DIR_A DIR_B   compares the fixtures of two directories
                                        (make check-torch: committed vs just made)
"""
import os
import random
import struct
import sys


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


class Gen:
    """Uniform values on a grid of 0.01, from a fixed seed."""
    def __init__(self, seed):
        self.r = random.Random(seed)

    def uniform(self, n, lo, hi):
        return [round(lo + (hi - lo) * self.r.random(), 2) for _ in range(n)]

    def random(self):
        return self.r.random()


def write(path, header, cases):
    """cases: [(case name, inputs, outputs), ...], inputs and outputs lists of
    (name, values); header: comment text.  Inputs are written exactly (9
    digits), outputs to 8.  A temporary file, then renamed: never half a fixture."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        for line in header.strip().splitlines():
            f.write('# ' + line + '\n')
        for cname, ins, outs in cases:
            f.write('case %s\n' % cname)
            for arrays, fmt in ((ins, '%.9g'), (outs, '%.8g')):
                for name, vals in arrays:
                    f.write('%s %d %s\n' % (name, len(vals), ' '.join(fmt % v for v in vals)))
    os.replace(tmp, path)
    print('%s: %d cases' % (path, len(cases)))


def read(path):
    """{case name: {array name: [values]}}"""
    out, cur = {}, None
    for line in open(path):
        if line.startswith('#') or not line.strip():
            continue
        if '\t' in line:         # trace_torch.py: anchor <TAB> ... <TAB> values
            fields = line.rstrip('\n').split('\t')
            out.setdefault('trace', {})['\t'.join(fields[:-1])] = [float(x) for x in fields[-1].split()]
            continue
        parts = line.split()
        if parts[0] == 'case':
            cur = out.setdefault(parts[1], {})
            continue
        cur[parts[0]] = [float(x) for x in parts[2:]]
        assert len(cur[parts[0]]) == int(parts[1]), (path, parts[0])
    return out


def diff(a_dir, b_dir):
    """Same inputs and outputs within 1e-6 * max(1, |value|) in every fixture."""
    bad = 0
    for name in sorted(os.listdir(a_dir)):
        if not name.endswith('.txt'):
            continue
        a, b = read(os.path.join(a_dir, name)), read(os.path.join(b_dir, name))
        if sorted(a) != sorted(b):
            print('%s: cases differ: %s vs %s' % (name, sorted(a), sorted(b)))
            bad += 1
            continue
        worst = 0.0
        for c in a:
            if sorted(a[c]) != sorted(b[c]):
                print('%s case %s: arrays differ' % (name, c))
                bad += 1
                continue
            for k in a[c]:
                for x, y in zip(a[c][k], b[c][k]):
                    worst = max(worst, abs(x - y) / max(1.0, abs(x)))
        print('%s: largest difference %.2g' % (name, worst))
        if worst > 1e-6:
            bad += 1
    return bad


if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] != 'diff':
        sys.exit(__doc__)
    n = diff(sys.argv[2], sys.argv[3])
    if n:
        print('the committed fixtures are not what the scripts make now: run make fixtures')
    sys.exit(1 if n else 0)
