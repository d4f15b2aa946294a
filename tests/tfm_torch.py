#!/usr/bin/python3
"""tfm_torch.py — PyTorch's training of the tiny Transformer LM, for tests/test_tfm_model.c.

usage: tfm_torch.py DIR      writes DIR/tfm_torch.txt (make fixtures: tests/fixtures)

For each case, a model file without dropout (tests/data/tiny_tfm_exact.g and
the same at 2 layers, 2 heads): `./graphrun MODEL --train --epochs 0 --save`
gives the initial parameters (from the file's seed), then bench/torch_ref.py's
tfm mode — torch.nn.Linear / LayerNorm layers, written apart from graphrun's
kernels — trains from them in float64 with the file's settings (batch, bptt,
torch.optim.Adam with its lr, betas and eps, global-norm clip, lr / 4 after an
epoch without a new best) on the file's data.  Written: per epoch the train
and valid perplexity and the lr it trained at, what `graphrun MODEL --train
--metrics` must print (test_tfm_model.c, trains_like_pytorch).  The key bias's
gradient is float noise, which Adam scales up, so the parameters themselves
are not compared; the perplexities do not depend on it.
"""
import os
import re
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench'))
import torch_ref  # noqa: E402
from torch_fixture import write  # noqa: E402

EPOCHS = 8
# case name, model file, layers, heads; every other setting read from the file
CASES = [('tiny_tfm_exact', 'tests/data/tiny_tfm_exact.g', 1, 2),
         ('two_layers', 'tests/data/tiny_tfm_exact.g', 2, 2)]


def setting(text, pattern):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f'tfm_torch.py: no match for {pattern!r} in the model file')
    return m.group(1)


def case(tmp, name, path, layers, heads):
    text = open(path).read()
    if layers != int(setting(text, r'layers = (\d+)')):     # the same file with more layers
        text = re.sub(r'layers = \d+', f'layers = {layers}', text)
        path = os.path.join(tmp, name + '.g')
        open(path, 'w').write(text)
    assert int(setting(text, r'heads = (\d+)')) == heads
    ck = os.path.join(tmp, name + '.ck')
    subprocess.run(['./graphrun', path, '--train', '--epochs', '0', '--save', ck], check=True, capture_output=True)
    data = os.path.join(tmp, name + '-data')
    os.mkdir(data)
    for part in ('train', 'valid'):
        os.symlink(os.path.abspath(setting(text, part + r' = "([^"]+)"')), os.path.join(data, part + '.txt'))
    a = torch_ref.parse([
        '--data', data, '--mode', 'tfm', '--init', ck, '--dropout', '0', '--threads', '1',
        '--dim', setting(text, r'const d = (\d+)'), '--heads', str(heads), '--layers', str(layers),
        '--ffn', setting(text, r'ffn = (\d+)'), '--batch', setting(text, r'batch = (\d+)'),
        '--bptt', setting(text, r'bptt = (\d+)'), '--lr', setting(text, r'lr = ([0-9.e-]+)'),
        '--betas', *re.search(r'betas = \[([0-9.]+), ([0-9.]+)\]', text).groups(),
        '--eps', setting(text, r'eps = ([0-9.e-]+)'), '--clip', setting(text, r'clip = ([0-9.]+)'),
        '--decay', setting(text, r'decay = ([0-9.]+)'), '--epochs', str(EPOCHS)])
    assert float(setting(text, r'dropout\(.*, ([0-9.]+)\)')) == 0 and float(setting(text, r'dropout = ([0-9.]+)')) == 0
    t = torch_ref.Trainer(a)
    rows = list(t.epochs())
    outs = [('train_ppl', [r[1] for r in rows]), ('valid_ppl', [r[2] for r in rows]), ('lr', [r[3] for r in rows])]
    return [('dims', [EPOCHS, layers, heads])], outs


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_default_dtype(torch.float64)
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(c[0],) + case(tmp, *c) for c in CASES]
    write(os.path.join(sys.argv[1], 'tfm_torch.txt'),
          'the tiny Transformer LM trained by bench/torch_ref.py (torch %s) for tests/test_tfm_model.c, '
          'written by tests/tfm_torch.py (make fixtures); see that script' % torch.__version__, cases)


if __name__ == '__main__':
    main()
