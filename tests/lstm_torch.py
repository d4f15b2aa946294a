#!/usr/bin/python3
"""lstm_torch.py — torch.nn.LSTM's answers for tests/test_lstm.c, as a fixture.

usage: lstm_torch.py DIR      writes DIR/lstm_torch.txt (make fixtures: tests/fixtures)

Each case: random inputs (torch_fixture.Gen) x[T,B,D], h0, c0[L,B,H],
per layer W_ih[4H,in], W_hh[4H,H], b[4H], the loss weights dy[T,B,H],
dhN, dcN[L,B,H] and, with lengths, len[B] (one row full, none empty).
torch.nn.LSTM runs in float64 with bias_ih = b, bias_hh = 0 (through
pack_padded_sequence, enforce_sorted=False, with lengths); the loss is
sum(y*dy) + sum(hN*dhN) + sum(cN*dcN), so its gradients are the backward of
(dy, dhN, dcN).  Written: the inputs, then y, hN, cN, dx, dh0, dc0 and per
layer dW_ih, dW_hh, db.
"""
import os
import sys
import torch
from torch_fixture import Gen, f32, write

# T, B, D, H, L, with lengths
CASES = [(5, 3, 4, 6, 1, 0), (7, 4, 5, 8, 2, 0), (6, 5, 3, 7, 2, 1),
         (6, 4, 4, 7, 3, 1),
         (4, 3, 4, 20, 2, 1)]           # H = 20: a full 16-lane chunk and a tail


def case(g, T, B, D, H, L, with_len):
    ins = []
    def take(name, n, lo, hi):
        v = g.uniform(n, lo, hi)
        ins.append((name, v))
        return v
    t = lambda v, *shape: torch.tensor([f32(a) for a in v], dtype=torch.float64).view(*shape)
    lens = [T] + [max(1, int(g.random() * (T + 1))) for _ in range(B - 1)] if with_len else None
    ins.append(('dims', [T, B, D, H, L, with_len]))
    if lens:
        ins.append(('len', lens))
    x = t(take('x', T * B * D, -1, 1), T, B, D)
    h0 = t(take('h0', L * B * H, -1, 1), L, B, H)
    c0 = t(take('c0', L * B * H, -1, 1), L, B, H)
    lstm = torch.nn.LSTM(D, H, L).double()
    with torch.no_grad():
        for l in range(L):
            inp = D if l == 0 else H
            getattr(lstm, 'weight_ih_l%d' % l).copy_(t(take('W_ih%d' % l, 4 * H * inp, -.6, .6), 4 * H, inp))
            getattr(lstm, 'weight_hh_l%d' % l).copy_(t(take('W_hh%d' % l, 4 * H * H, -.6, .6), 4 * H, H))
            getattr(lstm, 'bias_ih_l%d' % l).copy_(t(take('b%d' % l, 4 * H, -.6, .6), 4 * H))
            getattr(lstm, 'bias_hh_l%d' % l).zero_()
    dy = t(take('dy', T * B * H, -1, 1), T, B, H)
    dhN = t(take('dhN', L * B * H, -1, 1), L, B, H)
    dcN = t(take('dcN', L * B * H, -1, 1), L, B, H)
    for v in (x, h0, c0):
        v.requires_grad_(True)
    if lens:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lens), enforce_sorted=False)
        yp, (hN, cN) = lstm(packed, (h0, c0))
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, total_length=T)
    else:
        y, (hN, cN) = lstm(x, (h0, c0))
    ((y * dy).sum() + (hN * dhN).sum() + (cN * dcN).sum()).backward()
    outs = [('y', y), ('hN', hN), ('cN', cN), ('dx', x.grad), ('dh0', h0.grad), ('dc0', c0.grad)]
    for l in range(L):
        outs += [('dW_ih%d' % l, getattr(lstm, 'weight_ih_l%d' % l).grad),
                 ('dW_hh%d' % l, getattr(lstm, 'weight_hh_l%d' % l).grad),
                 ('db%d' % l, getattr(lstm, 'bias_ih_l%d' % l).grad)]
    return ins, [(n, v.detach().reshape(-1).tolist()) for n, v in outs]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    g = Gen(12345)
    cases = [('T%dB%dD%dH%dL%d%s' % (c[:5] + ('len' if c[5] else '',)),) + case(g, *c) for c in CASES]
    write(os.path.join(sys.argv[1], 'lstm_torch.txt'),
          'torch.nn.LSTM (torch %s) for tests/test_lstm.c, written by tests/lstm_torch.py '
          '(make fixtures); see that script' % torch.__version__, cases)


if __name__ == '__main__':
    main()
