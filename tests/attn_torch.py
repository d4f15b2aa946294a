#!/usr/bin/python3
"""attn_torch.py — PyTorch's answers for tests/test_attn.c, as a fixture.

usage: attn_torch.py DIR      writes DIR/attn_torch.txt (make fixtures: tests/fixtures)

Each case: random inputs (torch_fixture.Gen), then the input-feeding
attention decoder of bench/torch_ref.py (mode attn) on them in float64: a
stack of nn.LSTMCell (bias_ih = b, bias_hh = 0) fed [e_t ; feed], a fixed
dropout mask multiplied onto the inputs of layers 1..L-1, lin_in, scores by
bmm against the memory, masked softmax, context, lin_out on [c ; q], tanh.
Loss = sum(Rout*out) + sum(Rh*hN) + sum(Rc*cN) + sum(Rf*feedN).  Written:
the inputs, then outputs, attention weights and every gradient.
"""
import os
import sys
import torch
import torch.nn as nn
from torch_fixture import Gen, f32, write

# T, B, S, E, H, L, source lengths, dropout rate (every case has h0, c0, feed0)
CASES = [(5, 3, 6, 4, 5, 2, [6, 3, 1], 0.25),
         (5, 4, 7, 5, 10, 3, [7, 7, 4, 2], 0.2)]


def case(g, T, B, S, E, H, L, lens, p_drop):
    torch.set_default_dtype(torch.float64)
    ins = [('dims', [T, B, S, E, H, L]), ('len', lens)]
    def take(name, lo, hi, *shape):
        n = 1
        for s in shape:
            n *= s
        v = g.uniform(n, lo, hi)
        ins.append((name, v))
        return torch.tensor([f32(a) for a in v]).view(*shape)
    W = []
    for i in range(L):
        inp = E + H if i == 0 else H
        W.append((take('W_ih%d' % i, -.6, .6, 4 * H, inp), take('W_hh%d' % i, -.6, .6, 4 * H, H),
                  take('b%d' % i, -.5, .5, 4 * H)))
    W_in, W_c = take('W_in', -1, 1, H, H), take('W_c', -1, 1, H, 2 * H)
    e = take('e', -1, 1, T, B, E).requires_grad_()
    mem = take('mem', -1, 1, S, B, H).requires_grad_()
    h0 = take('h0', -.8, .8, L, B, H).requires_grad_()
    c0 = take('c0', -.8, .8, L, B, H).requires_grad_()
    feed = take('feed0', -.8, .8, B, H).requires_grad_()
    keep = f32(1 / (1 - p_drop))
    dv = [0.0 if g.random() < p_drop else keep for _ in range((L - 1) * T * B * H)]
    ins.append(('drop', dv))
    drop = torch.tensor(dv).view(L - 1, T, B, H)
    Rout, Rh = take('Rout', -1, 1, T, B, H), take('Rh', -1, 1, L, B, H)
    Rc, Rf = take('Rc', -1, 1, L, B, H), take('Rf', -1, 1, B, H)

    cells = nn.ModuleList([nn.LSTMCell(E + H if i == 0 else H, H) for i in range(L)])
    with torch.no_grad():
        for cell, (wih, whh, b) in zip(cells, W):
            cell.weight_ih.copy_(wih); cell.weight_hh.copy_(whh)
            cell.bias_ih.copy_(b); cell.bias_hh.zero_()
    lin_in = nn.Linear(H, H, bias=False)
    lin_out = nn.Linear(2 * H, H, bias=False)
    with torch.no_grad():
        lin_in.weight.copy_(W_in)
        lin_out.weight.copy_(W_c)
    mask = torch.arange(S).unsqueeze(0) >= torch.tensor(lens).unsqueeze(1)   # B x S, True = padding

    # the decoder loop of bench/torch_ref.py's AttnLM.forward
    hs, cs = list(h0), list(c0)
    outs, ws = [], []
    feed0 = feed
    for step in range(T):
        inp = torch.cat([e[step], feed], 1)
        for i, cell in enumerate(cells):
            hs[i], cs[i] = cell(inp, (hs[i], cs[i]))
            inp = hs[i] * drop[i, step] if i + 1 < L else hs[i]
        q = hs[-1]
        sc = torch.bmm(mem.transpose(0, 1), lin_in(q).unsqueeze(2)).squeeze(2)
        sc = sc.masked_fill(mask, -float('inf'))
        w = torch.softmax(sc, 1)
        c = torch.bmm(w.unsqueeze(1), mem.transpose(0, 1)).squeeze(1)
        feed = torch.tanh(lin_out(torch.cat([c, q], 1)))
        outs.append(feed)
        ws.append(w)
    out, hN, cN = torch.stack(outs), torch.stack(hs), torch.stack(cs)
    loss = (out * Rout).sum() + (hN * Rh).sum() + (cN * Rc).sum() + (feed * Rf).sum()
    loss.backward()

    res = [('out', out), ('hN', hN), ('cN', cN), ('feedN', feed), ('attn', torch.stack(ws)),
           ('de', e.grad), ('dmem', mem.grad), ('dh0', h0.grad), ('dc0', c0.grad), ('dfeed0', feed0.grad)]
    for i, cell in enumerate(cells):
        res += [('dW_ih%d' % i, cell.weight_ih.grad), ('dW_hh%d' % i, cell.weight_hh.grad),
                ('db%d' % i, cell.bias_ih.grad)]
    res += [('dW_in', lin_in.weight.grad), ('dW_c', lin_out.weight.grad)]
    return ins, [(n, v.detach().reshape(-1).tolist()) for n, v in res]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    g = Gen(2024)
    cases = [('T%dB%dS%dE%dH%dL%d' % c[:6],) + case(g, *c) for c in CASES]
    write(os.path.join(sys.argv[1], 'attn_torch.txt'),
          'the attention decoder in PyTorch (torch %s) for tests/test_attn.c, written by '
          'tests/attn_torch.py (make fixtures); see that script' % torch.__version__, cases)


if __name__ == '__main__':
    main()
