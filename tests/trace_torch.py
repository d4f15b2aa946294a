#!/usr/bin/python3
"""trace_torch.py — writes the PyTorch side of tests/test_trace_seq.c.

  /usr/bin/python3 tests/trace_torch.py OUTDIR     (make fixtures: OUTDIR = tests/fixtures)

For each toy model tests/data/trace_{lm,cond_lm,attn_lm}.g writes
OUTDIR/trace_{lm,cond_lm,attn_lm}.txt.  Takes the model's initial parameters and first training piece from
`./graphrun MODEL --json` (x, y, src, src_len and every parameter), computes the
same training step independently in PyTorch, in float64, with autograd unrolled
step by step (nn-style LSTM cells with b_ih = b and b_hh = 0; Luong attention
with input feeding as bench/torch_ref.py; mean cross-entropy, padding
ignored; clip_grad_norm_; SGD), and prints what `graphrun MODEL --trace` must
show: one line per checked value list,

  anchor 1 <TAB> anchor 2 <TAB> ... <TAB> v1 v2 v3 ...

The test finds each anchor in the trace after the previous one and compares
the numbers right after the last anchor (a bracketed list, or the numbers on
the rest of the line) with v1 v2 ... .  Dropout must be 0 in MODEL (the masks
are random); tests/data/trace_*.g are the toy-size models with dropout 0.
"""
import json
import re
import subprocess
import sys

import torch


def flat(t):
    return ' '.join('%.9g' % v for v in t.detach().reshape(-1).tolist())


def fixture(path):
    """The fixture text of the model file at path."""
    text = open(path).read()
    lr = float(re.search(r'lr = ([0-9.]+)', text).group(1))
    clip = float(re.search(r'clip = ([0-9.]+)', text).group(1))
    out = subprocess.run(['./graphrun', path, '--json'], capture_output=True, text=True, check=True).stdout
    val = json.loads(out)['values']
    P = lambda n: torch.tensor(val[n], dtype=torch.float64, requires_grad=True)
    ids = lambda n: torch.tensor(val[n]).long()
    E, bout = P('E'), P('bout')
    params = [E, bout]
    leaves = {}

    def block(name):
        layers = []
        l = 1
        while '%s.W_ih[%d]' % (name, l) in val:
            W_ih, W_hh, b = P('%s.W_ih[%d]' % (name, l)), P('%s.W_hh[%d]' % (name, l)), P('%s.b[%d]' % (name, l))
            b_hh = torch.zeros_like(b, requires_grad=True)      # PyTorch's second bias
            layers.append((W_ih, W_hh, b, b_hh))
            leaves['%s.W_ih[%d]' % (name, l)], leaves['%s.W_hh[%d]' % (name, l)], leaves['%s.b[%d]' % (name, l)] = W_ih, W_hh, b
            params.extend([W_ih, W_hh, b, b_hh])
            l += 1
        return layers

    def cell(x, h, c, W_ih, W_hh, b, b_hh):
        z = x @ W_ih.T + h @ W_hh.T + b + b_hh
        z.retain_grad()
        i, f, g, o = z.chunk(4, -1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        cn = f * c + i * g
        hn = o * torch.tanh(cn)
        return z, (i, f, g, o), hn, cn

    def lstm(layers, xs, h0, c0, lens=None):
        """xs: T tensors [B,in].  Returns the top outputs, per-layer finals, steps."""
        T = len(xs)
        steps, finals = {}, []
        for l, (W_ih, W_hh, b, b_hh) in enumerate(layers):
            h, c, outs = h0[l], c0[l], []
            for t in range(T):
                z, gates, hn, cn = cell(xs[t], h, c, W_ih, W_hh, b, b_hh)
                if lens is not None:
                    m = (t < lens).double().unsqueeze(1)
                    hn, cn = m * hn + (1 - m) * h, m * cn + (1 - m) * c
                hn.retain_grad(); cn.retain_grad()
                steps[l, t] = dict(z=z, gates=gates, h=hn, c=cn, W_hh=W_hh)
                h, c = hn, cn
                outs.append(hn if lens is None else hn * m)
            finals.append((h, c))
            xs = outs
        return xs, finals, steps

    x, y = ids('x'), ids('y')
    T, B = x.shape
    lines = []
    emit = lambda anchors, t: lines.append('\t'.join(anchors + [flat(t)]))
    gate_names = ['i = sigmoid(.) = ', 'f = sigmoid(.) = ', 'g = tanh   (.) = ', 'o = sigmoid(.) = ']
    enc_steps = None
    if 'src' in val:                                   # the encoder
        src, lens = ids('src'), ids('src_len')
        S = src.shape[0]
        enc = block('enc')
        L, H = len(enc), enc[0][1].shape[1]
        zero = [torch.zeros(B, H)] * L
        mem_list, enc_fin, enc_steps = lstm(enc, [E[src[t]] for t in range(S)], zero, zero, lens)
        mem = torch.stack(mem_list)                    # [S,B,H]
        for (l, t), s in enc_steps.items():
            emit(['== Forward', 'layer %d t=%-2d (' % (l + 1, t + 1), 'h = '], s['h'])
            emit(['== Forward', 'layer %d t=%-2d (' % (l + 1, t + 1), 'c = '], s['c'])
    dec = block('dec')
    L, H = len(dec), dec[0][1].shape[1]
    e = [E[x[t]] for t in range(T)]
    att_steps = {}
    if 'dec.W_in' in val:                              # attention, input feeding
        W_in, W_c = P('dec.W_in'), P('dec.W_c')
        leaves['dec.W_in'], leaves['dec.W_c'] = W_in, W_c
        params.extend([W_in, W_c])
        h = [enc_fin[l][0] for l in range(L)]
        c = [enc_fin[l][1] for l in range(L)]
        feed = torch.zeros(B, H)
        mask = torch.arange(S).unsqueeze(0) < lens.unsqueeze(1)   # [B,S]
        outs, steps = [], {}
        for t in range(T):
            inp = torch.cat([e[t], feed], 1)
            for l, (W_ih, W_hh, b, b_hh) in enumerate(dec):
                z, gates, hn, cn = cell(inp, h[l], c[l], W_ih, W_hh, b, b_hh)
                hn.retain_grad(); cn.retain_grad()
                steps[l, t] = dict(z=z, gates=gates, h=hn, c=cn, W_hh=W_hh)
                h[l], c[l], inp = hn, cn, hn
            q = h[L - 1]
            qin = q @ W_in.T
            scores = torch.einsum('sbh,bh->bs', mem, qin)
            scores.retain_grad()
            a = torch.softmax(scores.masked_fill(~mask, float('-inf')), 1)
            ctx = torch.einsum('bs,sbh->bh', a, mem)
            ht = torch.tanh(torch.cat([ctx, q], 1) @ W_c.T)
            ht.retain_grad()
            att_steps[t] = dict(qin=qin, scores=scores, a=a, ctx=ctx, ht=ht)
            outs.append(ht)
            feed = ht
        top = torch.stack(outs)
        fin = list(zip(h, c))
    else:
        if 'src' in val:
            h0, c0 = [f[0] for f in enc_fin], [f[1] for f in enc_fin]
        else:
            h0 = c0 = [torch.zeros(B, H)] * L
        outs, fin, steps = lstm(dec, e, h0, c0)
        top = torch.stack(outs)
    logits = top @ E.T + bout
    ign = 0 if 'src' in val else -100
    loss = torch.nn.functional.cross_entropy(logits.reshape(T * B, -1), y.reshape(-1), ignore_index=ign)
    loss.backward()

    # forward
    for (l, t), s in sorted(steps.items(), key=lambda k: (k[0][1], k[0][0]) if att_steps else k[0]):
        where = ['== Forward', 'step t = %d (fed' % (t + 1), 'layer %d: x = ' % (l + 1)] if att_steps \
            else ['== Forward', 'layer %d, t = %d' % (l + 1, t + 1)]
        for k in range(4):
            emit(where + [gate_names[k]], s['gates'][k])
        emit(where + ['c_t = f*c_{t-1} + i*g = '], s['c'])
        emit(where + ['h_t = o*tanh(c_t)     = '], s['h'])
        if att_steps and l == L - 1:
            a = att_steps[t]
            for b in range(B):
                row = ['== Forward', 'step t = %d (fed' % (t + 1), 'row %d: q = ' % (b + 1)]
                emit(row + ['W_in q = '], a['qin'][b])
                emit(row + ['scores m_j . (W_in q):'], a['scores'][b][: int(lens[b])])
                emit(row + ['weights softmax:'], a['a'][b])
                emit(row + ['context c = sum_j a_j m_j = '], a['ctx'][b])
                emit(row + ['h~ = tanh(W_c [c ; q]) = '], a['ht'][b])
    emit(['== Forward', 'loss = mean -log p = '], loss)

    # backward through time
    for t in range(T - 1, -1, -1):
        if att_steps:
            a = att_steps[t]
            at = ['== Backward', 'step t = %d, attention: dh~_t = ' % (t + 1)]
            emit(at, a['ht'].grad)
            emit(at + ['dscores (softmax backward, 0 at padding) = '], a['scores'].grad)
        for l in range(L - 1, -1, -1):
            s = steps[l, t]
            at = ['== Backward', 'layer %d, t = %d: dh_t = ' % (l + 1, t + 1)]
            emit(at, s['h'].grad)
            dz = s['z'].grad
            for k, nm in enumerate(['di = dc*g*i(1-i)       = ', 'df = dc*c_{t-1}*f(1-f) = ',
                                       'dg = dc*i*(1-g^2)      = ', 'do = dh*tanh(c)*o(1-o) = ']):
                emit(at + [nm], dz.chunk(4, -1)[k])
            emit(at + ['-> dc_{t-1} = dc*f = '], s['c'].grad * s['gates'][1])
            emit(at + ['-> dh_{t-1} = W_hh^T [di df dg do] = '], dz @ s['W_hh'])
    if enc_steps:
        for (l, t), s in enc_steps.items():
            emit(['== Backward', 'layer %d t=%-2d dh_t = ' % (l + 1, t + 1)], s['h'].grad)

    # each block weight's gradient: its norm and first row, as the trace lists them
    named = []
    for blk in ('enc', 'dec'):
        l = 1
        while '%s.W_ih[%d]' % (blk, l) in val:
            named += ['%s.W_ih[%d]' % (blk, l), '%s.W_hh[%d]' % (blk, l), '%s.b[%d]' % (blk, l)]
            l += 1
    named += [n for n in ('dec.W_in', 'dec.W_c') if n in val]
    for name in named:
        g = leaves[name].grad
        shape = '[%s]' % ','.join(str(k) for k in g.shape)
        at = ['== Backward', 'd%s %s: norm ' % (name, shape)]
        emit(at, g.norm().reshape(1))
        emit(at + ['row 1 = '], g[0] if g.dim() == 2 else g[:8])

    # clipping and SGD
    norm = torch.nn.utils.clip_grad_norm_(params, clip)
    emit(['== Clipping', "b_ih + b_hh) = "], norm)
    row = int(x[0, 0])
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    emit(['== Clipping', 'Row %d (' % row, '  after    '], E[row])

    # the carry: the next piece starts from this piece's final state
    for l in range(L):
        at = ['== The carry', 'layer %d initial state of piece 2: h = ' % (l + 1)]
        emit(at, fin[l][0])
        emit(at + ['c = '], fin[l][1])
    if att_steps:
        emit(['== The carry', 'and h~_0 of piece 2 = '], att_steps[T - 1]['ht'])
    head = '# %s: written by tests/trace_torch.py (PyTorch %s); do not edit' % (path, torch.__version__)
    return '\n'.join([head] + lines) + '\n'


def main():
    torch.set_default_dtype(torch.float64)
    for m in ('lm', 'cond_lm', 'attn_lm'):
        text = fixture('tests/data/trace_%s.g' % m)
        with open('%s/trace_%s.txt' % (sys.argv[1], m), 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
