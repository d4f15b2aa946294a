#!/usr/bin/python3
"""bench/report.py OUT — the table of bench/run's training runs, from the logs in OUT.

Rows: small = data/, replicas = the same with --replicas (one per thread;
compared with the same PyTorch run), brown = the Brown slice (both programs),
full = the whole Brown corpus (graphrun only), fullbucket = the same with
batching = bucket.

Speed is training tokens over training seconds, summed over all epochs of the
run (each program's own count: target tokens, padding excluded).  GFLOP/s is
the matrix-product work of the training epochs (formula in bench/RESULTS.md:
the recurrences over the padded grid both programs compute, the output layer
over the counted rows, as graphrun computes it) over the same seconds.
The whole-corpus rows are also set against the mean of the two peaks
measured just before and just after each of them (the machine's speed drifts
within a run; the targets keep the best peak).
Peak memory is "Maximum resident set size" from /usr/bin/time -v.
"""
import math, re, sys
from collections import namedtuple

OUT = sys.argv[1] if len(sys.argv) > 1 else 'bench/out'
B, BPTT = 20, 35
CFGS = [('small', 'lm', 100), ('small', 'cond_lm', 100), ('small', 'attn_lm', 100),
        ('replicas', 'lm', 100), ('replicas', 'cond_lm', 100), ('replicas', 'attn_lm', 100),
        ('brown', 'lm', 100), ('brown', 'lm', 256), ('brown', 'cond_lm', 100),
        ('brown', 'cond_lm', 256), ('brown', 'attn_lm', 100), ('brown', 'attn_lm', 256),
        ('full', 'lm', 100), ('full', 'cond_lm', 100), ('full', 'attn_lm', 100),
        ('full', 'lm', 256), ('full', 'cond_lm', 256), ('full', 'attn_lm', 256),
        ('fullbucket', 'cond_lm', 100), ('fullbucket', 'attn_lm', 100)]
DATA = {'small': 'data', 'replicas': 'data', 'brown': 'bench/data/brown', 'full': 'data/brown', 'fullbucket': 'data/brown'}
WINDOW = 100   # batching = bucket: sentences sorted by length within windows of WINDOW bundles (src/train.c)
# One row of the table, for the targets: tok/s over the reference's, % of the run's best peak,
# peak RSS MB of graphrun and of the reference, % of the peaks measured around the run.
Row = namedtuple('Row', 'ratio pct rss rss_ref pct_near')


def read(path):
    try:
        return open(path).read()
    except OSError:
        return ''


def epochs(log):
    """[(train_ppl, valid_ppl, seconds, tok_per_s)] from either program's log."""
    out = []
    for m in re.finditer(r'^epoch\s+\d+\s+train ppl\s+(\S+)\s+valid ppl\s+(\S+)\s+lr \S+\s+(\S+) s\s+(\S+) tok/s', log, re.M):
        out.append(tuple(map(float, m.groups())))
    for m in re.finditer(r'^epoch \d+ train_ppl (\S+) valid_ppl (\S+) sec (\S+) tok/s (\S+)', log, re.M):
        out.append(tuple(map(float, m.groups())))
    return out


def rss_mb(name):
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', read(f'{OUT}/{name}.time'))
    return int(m.group(1)) / 1024 if m else None


def lens(path):
    return [len(l.split()) for l in open(path) if l.strip()]


def flops_per_epoch(kind, model, d, V):
    """Product FLOPs of one training epoch: 3 x forward (backward = 2 x forward)."""
    lstm2 = 2 * (2 * 4 * d * (d + d))                     # 2 layers, in = hidden = d
    out = 2 * d * V                                       # [rows,d] x [d,V]
    tl = lens(f'{DATA[kind]}/train.txt')
    if model == 'lm':
        rows = (sum(n + 1 for n in tl) // B - 1) * B      # the stream, B columns
        return 3.0 * rows * (lstm2 + out)
    sl = lens(f'{DATA[kind]}/src-train.txt')
    order = list(range(len(tl)))
    if kind == 'fullbucket':   # as corpus_bundles_bucket: (target, source, line) within each window
        span = WINDOW * B
        order = [l for w in range(0, len(tl), span) for l in sorted(order[w:w + span], key=lambda l: (tl[l], sl[l], l))]
    tl, sl = [tl[l] for l in order], [sl[l] for l in order]
    f = 0.0
    for i in range(0, len(tl), B):
        bt, bs = tl[i:i + B], sl[i:i + B]
        Bb, T, S = len(bt), max(bt) + 2, max(bs)
        pieces = math.ceil((T - 1) / BPTT)
        f += pieces * S * Bb * lstm2                      # encoder, re-run for every piece
        f += sum(n + 1 for n in bt) * out                 # output layer: the counted rows only
        if model == 'cond_lm':
            f += (T - 1) * Bb * lstm2
        else:  # decoder layer 0 reads [emb; feed] (2d); W_in, scores, context, W_c
            dec = 2 * 4 * d * (2 * d + d) + 2 * 4 * d * (d + d)
            att = 2 * d * d + 2 * S * d + 2 * S * d + 2 * (2 * d) * d
            f += (T - 1) * Bb * (dec + att)
    return 3.0 * f


def labelled_peaks(out):
    """{label: GFLOP/s} for the measurements bench/common.sh's measure_peak LABEL
    marked with an "at: LABEL" line (bench/run: before and after each
    whole-corpus run)."""
    found, label = {}, None
    for line in read(f'{out}/sgemm.txt').splitlines():
        if line.startswith('at: '):
            label = line[4:].strip()
        elif line.startswith('peak GFLOP/s ') and label:
            found[label] = float(line.split()[2])
            label = None
    return found


def around(peaks, name):
    """The mean of the peaks measured just before and just after run `name`, or None."""
    b, a = peaks.get(f'before {name}'), peaks.get(f'after {name}')
    return (a + b) / 2 if a and b else None


def sgemm_peak(out):
    """The best of the sgemm_peak runs in out/sgemm.txt (bench/run measures at
    its start, before and after each whole-corpus run and at its end) and a line that says so,
    followed by the hand-off round trips measured with them (out/handoff.txt), if any."""
    runs = [float(x) for x in re.findall(r'^peak GFLOP/s (\S+)', read(f'{out}/sgemm.txt'), re.M)]
    if not runs:
        return None, 'sgemm peak: not measured\n'
    said = (f'sgemm peak (same run, best of {len(runs)} measurements: '
            f'{", ".join(f"{x:.1f}" for x in runs)}): {max(runs):.1f} GFLOP/s\n')
    lo, hi = min(runs), max(runs)
    moved = 100 * (hi - lo) / hi          # the test and the message use the same figure
    if moved > 5:   # the yardstick itself moved: the % of the best peak moves with it
        said += (f'NOTE: the peak moved by {moved:.1f}% within this run ({lo:.1f} to {hi:.1f}): '
                 'the machine\'s speed changed while it ran, and every % of the best peak below moves with it; '
                 'the "% of the peaks around it" column sets each run against its own hour.\n')
    trips = re.findall(r'^handoff ns (\S+)', read(f'{out}/handoff.txt'), re.M)
    if trips:   # bench/handoff.c, measured with each peak
        said += f'round trip of a cache line between the two CPUs, at each peak measurement: {", ".join(trips)} ns\n'
    return max(runs), said


def main():
    peak, said = sgemm_peak(OUT)
    print(read(f'{OUT}/env.txt').strip())
    print(said)
    near = labelled_peaks(OUT)
    print('| data | model | d | epochs | graphrun tok/s | PyTorch tok/s | ratio | graphrun GFLOP/s | % of peak '
          '| % of the peaks around it | valid ppl graphrun / PyTorch | peak RSS MB graphrun / PyTorch |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|')
    rows = {}
    for kind, model, d in CFGS:
        g = epochs(read(f'{OUT}/graphrun-{kind}-{model}-{d}.log'))
        pkind = 'small' if kind == 'replicas' else kind      # the same reference run
        p = epochs(read(f'{OUT}/pytorch-{pkind}-{model}-{d}.log'))
        if not g: continue
        vm = re.search(r'vocabulary (\d+)', read(f'{OUT}/graphrun-{kind}-{model}-{d}.log'))
        sec = sum(e[2] for e in g)
        gt = sum(e[2] * e[3] for e in g) / sec
        pt = sum(e[2] * e[3] for e in p) / sum(e[2] for e in p) if p else None
        fl = flops_per_epoch(kind, model, d, int(vm.group(1))) * len(g) / sec * 1e-9
        rg, rp = rss_mb(f'graphrun-{kind}-{model}-{d}'), rss_mb(f'pytorch-{pkind}-{model}-{d}')
        nb = around(near, f'graphrun-{kind}-{model}-{d}')
        rows[kind, model, d] = Row(gt / pt if pt else None, 100 * fl / peak if peak else None, rg, rp,
                                   100 * fl / nb if nb else None)
        print(f'| {kind} | {model} | {d} | {len(g)} | {gt:.0f} | {pt:.0f} | {gt / pt:.1f}x ' if pt else
              f'| {kind} | {model} | {d} | {len(g)} | {gt:.0f} | - | - ', end='')
        print(f'| {fl:.1f} | {100 * fl / peak:.1f}% ' if peak else f'| {fl:.1f} | - ', end='')
        print(f'| {100 * fl / nb:.1f}% ({nb:.1f}) ' if nb else '| - ', end='')
        print(f'| {g[-1][1]:.2f} / {p[-1][1]:.2f} ' if p else f'| {g[-1][1]:.2f} / - ', end='')
        print(f'| {rg:.0f} / {rp:.0f} |' if rg and rp else f'| {rg or 0:.0f} / - |')
    targets(rows)


def targets(rows):
    """Issue 18's targets, each with its measured value (or 'not run')."""
    env = read(f'{OUT}/env.txt')
    load = re.search(r'load at start (\S+)', env)
    threads = re.search(r'threads=(\d+)', env)
    if load and threads and float(load.group(1)) > int(threads.group(1)) + 1:
        print(f'\nNOTE: the load average was {load.group(1)} at the start on {threads.group(1)} threads: other '
              'programs were running, so these figures measure the load too; the targets need a quiet machine.')
    print('\n| target | measured | |\n|---|---|---|')
    def line(what, key, field, limit, fmt):
        v = getattr(rows[key], field) if key in rows else None
        if v is None:
            print(f'| {what} | not run | |')
        else:
            print(f'| {what} | {fmt.format(v)} | {"met" if v >= limit else "**not met**"} |')
    for model, x in (('lm', 8), ('cond_lm', 8), ('attn_lm', 12)):
        line(f'{model}: >= {x}x the reference tok/s (data/, d = 100)', ('small', model, 100), 'ratio', x, '{:.1f}x')
    for model in ('lm', 'cond_lm', 'attn_lm'):
        line(f'{model}: >= 60% of the sgemm peak (data/, d = 100)', ('small', model, 100), 'pct', 60, '{:.1f}%')
    for model in ('lm', 'cond_lm', 'attn_lm'):
        line(f'{model}: >= 60% of the sgemm peak (data/, d = 100, --replicas)', ('replicas', model, 100), 'pct', 60, '{:.1f}%')
    for model in ('lm', 'cond_lm', 'attn_lm'):
        line(f'{model}: >= 80% of the sgemm peak (whole Brown, d = 256)', ('full', model, 256), 'pct', 80, '{:.1f}%')
    near = [(m, rows[k].pct_near) for m in ('lm', 'cond_lm', 'attn_lm') for k in [('full', m, 256)]
            if k in rows and rows[k].pct_near]
    if near:   # not the target's measure (that is the best peak of the run); what the drift hides
        print('| (the same against the mean of the peaks measured just before and after each run) | '
              + ', '.join(f'{m} {v:.1f}%' for m, v in near) + ' | |')
    paired = [r for r in rows.values() if r.rss and r.rss_ref]
    if paired:
        below = sum(r.rss < r.rss_ref for r in paired)
        print(f'| peak memory below the reference\'s | {below} of {len(paired)} paired runs | '
              f'{"met" if below == len(paired) else "**not met**"} |')


if __name__ == '__main__':
    main()
