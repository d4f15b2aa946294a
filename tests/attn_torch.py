#!/usr/bin/python3
"""attn_torch.py — PyTorch oracle for tests/test_attn.c.

Reads a problem file written by the C test (lines "name count v1 v2 ..."), runs
the input-feeding attention decoder of bench/ref_seq2seq.py (mode attn) on it in
float64: a stack of nn.LSTMCell (bias_ih = b, bias_hh = 0) fed [e_t ; feed],
a fixed dropout mask multiplied onto the inputs of layers 1..L-1, lin_in,
scores by bmm against the memory, masked softmax, context, lin_out on [c ; q],
tanh.  Loss = sum(Rout*out) + sum(Rh*hN) + sum(Rc*cN) + sum(Rf*feedN).
Prints outputs, attention weights and every gradient in the same line format.
"""
import sys
import torch
import torch.nn as nn


def read(path):
    d = {}
    for line in open(path):
        parts = line.split()
        if not parts:
            continue
        n = int(parts[1])
        vals = [float(x) for x in parts[2:]]
        assert len(vals) == n, parts[0]
        d[parts[0]] = vals
    return d


def main():
    torch.set_default_dtype(torch.float64)
    v = read(sys.argv[1])
    T, B, S, E, H, L = (int(x) for x in v['dims'])
    t = lambda name, *shape: torch.tensor(v[name]).view(*shape)
    lens = torch.tensor([int(x) for x in v['len']])
    e = t('e', T, B, E).requires_grad_()
    mem = t('mem', S, B, H).requires_grad_()
    h0 = t('h0', L, B, H).requires_grad_()
    c0 = t('c0', L, B, H).requires_grad_()
    feed = t('feed0', B, H).requires_grad_()
    drop = t('drop', L - 1, T, B, H) if 'drop' in v else torch.ones(max(L - 1, 0), T, B, H)
    cells = nn.ModuleList([nn.LSTMCell(E + H if i == 0 else H, H) for i in range(L)])
    with torch.no_grad():
        for i, cell in enumerate(cells):
            cell.weight_ih.copy_(t('W_ih%d' % i, 4 * H, E + H if i == 0 else H))
            cell.weight_hh.copy_(t('W_hh%d' % i, 4 * H, H))
            cell.bias_ih.copy_(t('b%d' % i, 4 * H))
            cell.bias_hh.zero_()
    lin_in = nn.Linear(H, H, bias=False)
    lin_out = nn.Linear(2 * H, H, bias=False)
    with torch.no_grad():
        lin_in.weight.copy_(t('W_in', H, H))
        lin_out.weight.copy_(t('W_c', H, 2 * H))
    mask = torch.arange(S).unsqueeze(0) >= lens.unsqueeze(1)          # B x S, True = padding

    # the decoder loop of ref_seq2seq.py's Model.forward (mode attn)
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
    loss = ((out * t('Rout', T, B, H)).sum() + (hN * t('Rh', L, B, H)).sum()
            + (cN * t('Rc', L, B, H)).sum() + (feed * t('Rf', B, H)).sum())
    loss.backward()

    def put(name, x):
        x = x.detach().reshape(-1).tolist()
        print(name, len(x), ' '.join('%.12g' % y for y in x))
    put('out', out); put('hN', hN); put('cN', cN); put('feedN', feed)
    put('attn', torch.stack(ws))
    put('de', e.grad); put('dmem', mem.grad)
    put('dh0', h0.grad); put('dc0', c0.grad); put('dfeed0', feed0.grad)
    for i, cell in enumerate(cells):
        put('dW_ih%d' % i, cell.weight_ih.grad)
        put('dW_hh%d' % i, cell.weight_hh.grad)
        put('db%d' % i, cell.bias_ih.grad)
    put('dW_in', lin_in.weight.grad); put('dW_c', lin_out.weight.grad)


if __name__ == '__main__':
    main()
