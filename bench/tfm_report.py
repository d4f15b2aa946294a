#!/usr/bin/python3
"""bench/tfm_report.py OUT — the Transformer table of bench/tfm.sh, from the logs in OUT.

Tokens/s: training tokens over training seconds, all epochs of a run.  GFLOP/s:
the matrix products of the training epochs (3 x forward) over the same seconds;
per token and layer 2 d (3d) + 2 d d + 2 (2 d F) for the projections and the
FFN, 4 T d for the scores and the weighted sums (computed over the whole T x T
window), and 2 d V for the output layer.
"""
import os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import OUT, read, epochs, rss_mb, sgemm_peak  # noqa: E402  (the logs are read as bench/run's are)

T, L = 35, 2


def speed(ep):
    sec = sum(e[2] for e in ep)
    return sum(e[2] * e[3] for e in ep) / sec if sec else 0


def main():
    print(read(f'{OUT}/tfm-env.txt').strip())
    peak, said = sgemm_peak(OUT)
    print(said)
    seeds = sorted({re.match(r'tfm-graphrun-small-(\d+)\.log', f).group(1) for f in os.listdir(OUT)
                    if re.match(r'tfm-graphrun-small-\d+\.log', f)}, key=int)
    print('| seed | epochs | valid ppl graphrun | valid ppl PyTorch | graphrun tok/s | PyTorch tok/s | ratio | peak RSS MB graphrun / PyTorch |')
    print('|---:|---:|---:|---:|---:|---:|---:|---|')
    gv, pv, ratios, mem_ok = [], [], [], True
    for s in seeds:
        g, p = epochs(read(f'{OUT}/tfm-graphrun-small-{s}.log')), epochs(read(f'{OUT}/tfm-pytorch-small-{s}.log'))
        if not g: continue
        rg, rp = rss_mb(f'tfm-graphrun-small-{s}'), rss_mb(f'tfm-pytorch-small-{s}')
        gv.append(g[-1][1])
        row = f'| {s} | {len(g)} | {g[-1][1]:.2f} | '
        if p:
            pv.append(p[-1][1]); ratios.append(speed(g) / speed(p))
            mem_ok = mem_ok and rg is not None and rp is not None and rg < rp
            row += f'{p[-1][1]:.2f} | {speed(g):.0f} | {speed(p):.0f} | {speed(g) / speed(p):.2f}x | {rg:.0f} / {rp:.0f} |'
        else:
            row += f'- | {speed(g):.0f} | - | - | {rg or 0:.0f} / - |'
        print(row)
    if pv:
        lo, hi = min(pv), max(pv)
        inside = all(lo <= v <= hi for v in gv)
        verdict = ('met' if inside else 'NOT met') if len(pv) > 1 else 'one seed: no range (run the three seeds)'
        print(f'\nperplexity: graphrun {", ".join(f"{v:.2f}" for v in gv)}; reference range [{lo:.2f}, {hi:.2f}]: {verdict}')
        r = sorted(ratios)[len(ratios) // 2]
        print(f'speed: median ratio {r:.2f}x (target >= 5x): {"met" if r >= 5 else "NOT met"}')
        print(f'memory: graphrun\'s peak RSS below the reference\'s in every pair: {"met" if mem_ok else "NOT met"}')
    rows = []
    for d in (128, 256):
        log = read(f'{OUT}/tfm-graphrun-brown-{d}.log')
        g = epochs(log)
        vm = re.search(r'vocabulary (\d+)', log)
        if not g or not vm: continue
        V, F = int(vm.group(1)), 4 * d
        per_tok = L * (2 * d * 3 * d + 2 * d * d + 4 * d * F + 4 * T * d) + 2 * d * V
        gf = 3.0 * per_tok * speed(g) * 1e-9
        rows.append(f'| {d} | {g[-1][1]:.2f} | {speed(g):.0f} | {gf:.1f} | ' + (f'{100 * gf / peak:.0f}% |' if peak else '- |'))
    if rows:
        print('\nWhole Brown corpus, 1 epoch (graphrun):\n')
        print('| d | valid ppl | tok/s | GFLOP/s | % of sgemm peak |')
        print('|---:|---:|---:|---:|---:|')
        print('\n'.join(rows))


main()
