#!/usr/bin/python3
"""Runs the PyTorch reference trainer (/work/shared/bench/ref_seq2seq.py, unchanged
except for the hooks below) from graphrun's initial parameters, so that the two
trainers can be compared step for step.

  ./graphrun models/attn_lm.g --train --epochs 0 --save /tmp/init.ck
  /usr/bin/python3 bench/parity.py --ckpt /tmp/init.ck --mode attn --dropout 0 --epochs 3

Hooks (text substitutions on the reference's source, which stays read-only):
  * after `m = Model()`: load the checkpoint; rows of E and bout are mapped by
    word (graphrun: <pad> <eos> <sos> <unk>, then first appearance in train.txt
    then src-train.txt; the reference: <pad> <eos> <sos>, then first appearance
    in train, valid, src-train, src-valid); LSTM bias_ih = b, bias_hh = 0.
  * --single-bias: bias_hh is frozen at 0, so each LSTM layer has one trainable
    bias instead of two that both get the full gradient (how graphrun trained
    its b before it counted b twice in SGD and clipping, see src/train.h).
  * --stop-after N: exit after N steps.
  * --debug N: print loss and gradient norm (before clipping) of the first N
    steps, and at step 1 each parameter's gradient norm (after clipping).
All other arguments go to the reference unchanged.
"""
import struct, sys, os, numpy as np

REF = os.environ.get('REF', '/work/shared/bench/ref_seq2seq.py')

def read_ckpt(path):
    b = open(path, 'rb').read()
    assert b[:7] == b'GRCKPT\0' and b[7] == 1, 'not a version-1 graphrun checkpoint'
    at = 8
    def u32():
        nonlocal at
        v = struct.unpack_from('<I', b, at)[0]; at += 4; return v
    out = {}
    for _ in range(u32()):
        n = u32(); name = b[at:at + n].decode(); at += n
        shape = [u32() for _ in range(u32())]
        cnt = int(np.prod(shape)) if shape else 1
        out[name] = np.frombuffer(b, '<f4', cnt, at).reshape(shape).copy(); at += 4 * cnt
    return out

def gr_vocab(data, translation):
    itos = ['<pad>', '<eos>', '<sos>', '<unk>']; stoi = {w: i for i, w in enumerate(itos)}
    files = ['train.txt'] + (['src-train.txt'] if translation else [])
    for f in files:
        for line in open(os.path.join(data, f)):
            for w in line.split():
                if w not in stoi: stoi[w] = len(itos); itos.append(w)
    return stoi

def load_into(m, ck, ref_itos, mode, data, layers):
    import torch
    stoi = gr_vocab(data, mode != 'lm')
    rows = [stoi[w] for w in ref_itos]          # ref row r <- graphrun row rows[r]
    assert sorted(rows) == list(range(len(rows))), 'vocabularies differ as sets'
    T = lambda x: torch.tensor(x)
    with torch.no_grad():
        m.emb.weight.copy_(T(ck['E'][rows]))
        m.out.bias.copy_(T(ck['bout'][rows]))
        def lstm(mod, pre):
            for l in range(layers):
                getattr(mod, f'weight_ih_l{l}').copy_(T(ck[f'{pre}.W_ih[{l+1}]']))
                getattr(mod, f'weight_hh_l{l}').copy_(T(ck[f'{pre}.W_hh[{l+1}]']))
                getattr(mod, f'bias_ih_l{l}').copy_(T(ck[f'{pre}.b[{l+1}]']))
                getattr(mod, f'bias_hh_l{l}').zero_()
        if mode == 'lm':
            lstm(m.dec, 'lstm' if 'lstm.W_ih[1]' in ck else 'dec')
        else:
            lstm(m.enc, 'enc')
            if mode == 'cond':
                lstm(m.dec, 'dec')
            else:
                for l, cell in enumerate(m.cells):
                    cell.weight_ih.copy_(T(ck[f'dec.W_ih[{l+1}]']))
                    cell.weight_hh.copy_(T(ck[f'dec.W_hh[{l+1}]']))
                    cell.bias_ih.copy_(T(ck[f'dec.b[{l+1}]'])); cell.bias_hh.zero_()
                m.lin_in.weight.copy_(T(ck['dec.W_in'])); m.lin_out.weight.copy_(T(ck['dec.W_c']))
    print(f'# loaded {len(ck)} parameters from graphrun checkpoint', flush=True)

def main():
    argv = sys.argv[1:]
    def take(flag, default=None):
        if flag in argv:
            i = argv.index(flag); v = argv[i + 1]; del argv[i:i + 2]; return v
        return default
    ckpt = take('--ckpt'); debug = int(take('--debug', '0')); stop = int(take('--stop-after', '0'))
    single = '--single-bias' in argv
    if single: argv.remove('--single-bias')
    src = open(REF).read()
    hook = "m = Model(); lossf"
    assert src.count(hook) == 1
    src = src.replace(hook, "m = Model(); __hook__(m, itos, a); lossf")
    stephook = "    m.zero_grad(); (loss / k).backward()\n    nn.utils.clip_grad_norm_(m.parameters(), a.clip)"
    assert src.count(stephook) == 1
    src = src.replace(stephook, "    m.zero_grad(); (loss / k).backward()\n"
                      "    __gn__ = nn.utils.clip_grad_norm_(m.parameters(), a.clip); __dbg__(loss, k, __gn__, m)")
    state = {'n': 0}
    def hook_fn(m, itos, a):
        if ckpt: load_into(m, read_ckpt(ckpt), itos, a.mode, a.data, a.layers)
        if single:      # graphrun's parametrisation: one trainable bias per LSTM layer
            for name, q in m.named_parameters():
                if 'bias_hh' in name: q.requires_grad_(False)
            print('# --single-bias: bias_hh frozen at 0 (one bias b per layer, as graphrun)', flush=True)
    def dbg(loss, k, gn, m):
        state['n'] += 1
        if state['n'] <= debug:
            print(f'# step {state["n"]} loss {loss.item() / k:.6f} ntok {k} gradnorm {float(gn):.6f}', flush=True)
        if state['n'] == 1:
            for name, q in m.named_parameters():
                if q.grad is not None: print(f'#   {name:24s} {q.grad.norm().item():.6e}', flush=True)
        if stop and state['n'] >= stop: sys.exit(0)
    sys.argv = [REF] + argv
    g = {'__name__': '__main__', '__hook__': hook_fn, '__dbg__': dbg}
    exec(compile(src, REF, 'exec'), g)

if __name__ == '__main__':
    main()
