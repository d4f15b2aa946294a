#!/usr/bin/python3
"""bench/torch_ref.py — graphrun's PyTorch yardstick: the assignment's three
sequence models and issue 15's Transformer LM trained the way graphrun trains
them, for bench/run and bench/tfm.sh to time side by side with graphrun (same
data, settings, threads and BLAS kernel).

  /usr/bin/python3 bench/torch_ref.py --data data --mode lm|cond|attn|tfm [--dim D]
      [--epochs 10] [--threads 2] [--seed 1111] [--batch 20] [--bptt 35]

What it computes (docs/training.md describes graphrun's side):
  * vocabulary as graphrun's (data/README.md, src/corpus.h): <pad> <eos> <sos>
    <unk>, then words by first appearance in train.txt, then src-train.txt;
    words of the valid files that train lacks read as <unk>;
  * lm: the training text as one stream (every sentence + <eos>) in B columns,
    cut into bptt pieces, the LSTM state carried across pieces and detached;
    validation as one column (vbatch 1);
  * cond, attn: bundles of B sentence pairs in file order, target
    "<sos> y <eos>" padded with <pad>, cut into bptt pieces; the decoder starts
    from the encoder's final state (per sentence length) and carries its state
    across pieces; in training the encoder runs again for every piece, so each
    piece's step reaches it; validation in bundles of 60;
  * the models of models/{lm,cond_lm,attn_lm}.g: embeddings E ~ U(-0.1, 0.1)
    tied to the output layer (bias 0), 2-layer LSTMs with dropout 0.2 on the
    embeddings, between layers and before the output layer; attn: Luong's
    "general" score m_j . (W_in h_t) over unpadded source positions,
    h~ = tanh(W_c [c; h]), fed into the next step beside the embedding;
  * tfm (models/transformer_lm.g): the lm stream, but each bptt window read on
    its own (no state carried); x0 = dropout(E[x] + P[t]); per layer (pre-LN)
    x += dropout(W_o concat_h(softmax(mask(q_h k_h^T / sqrt(dh))) v_h) + b_o)
    with q, k, v = LN1(x) W_qkv^T + b_qkv (nn.Linear(d, 3d): q, k, v stacked,
    head h the columns h*dh.. of each), x += dropout(W_2 relu(W_1 LN2(x) + b_1)
    + b_2); logits = LN_f(x) E^T + bout.  d 128, 4 heads, FFN 4d, 2 layers;
    E, P ~ U(-0.1, 0.1) with E's <pad> row 0, nn.Linear's own init
    (U(+-1/sqrt(fan_in))), layer norms 1 / 0 (eps 1e-5);
  * loss: summed token NLL (padding ignored) / the piece's token count; the
    global gradient norm clipped, then the optimizer's step: SGD lr 20, clip
    0.25 (lm, cond, attn) or torch.optim.Adam lr 1e-3, betas 0.9 / 0.999,
    eps 1e-8, clip 1 (tfm; each mode's defaults, every one a flag); lr / 4
    after an epoch without a new best validation loss.

Prints per epoch: "epoch N train_ppl P valid_ppl P sec S tok/s R" (tok/s: the
epoch's training tokens over its training seconds), what bench/report.py reads.

Step-by-step parity with graphrun: --init CK starts from a graphrun
checkpoint (./graphrun models/attn_lm.g --train --epochs 0 --save CK; the
vocabularies are built the same way, so rows match; an LSTM's b goes to
bias_ih, bias_hh = 0; a transformer block's tf.W_qkv[l] ... to layer l's
modules, PyTorch's layouts already), --debug N prints the loss and gradient norm of the
first N steps (and every parameter's gradient norm at step 1), --stop-after N
ends after N steps.  With --dropout 0 (and a graphrun model file without
dropout) the losses agree to float rounding.

A new model is one more class with `kind` (which batches it reads), its
`defaults` (flags it changes), `load` (from a graphrun checkpoint) and
forward(x, state, memory) -> (logits, state), registered in MODELS; another
optimizer is a class with step(lr, clip) in OPTIMIZERS.
"""
import argparse
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, EOS, SOS, UNK = 0, 1, 2, 3


# ---- data ---------------------------------------------------------------------------

class Vocab:
    def __init__(self):
        self.words = ['<pad>', '<eos>', '<sos>', '<unk>']
        self.index = {w: i for i, w in enumerate(self.words)}

    def read(self, path, grow):
        sents = []
        with open(path, encoding='utf-8') as f:
            for line in f:
                toks = line.split()
                if not toks:
                    continue
                row = []
                for w in toks:
                    i = self.index.get(w)
                    if i is None:
                        if grow:
                            i = self.index[w] = len(self.words)
                            self.words.append(w)
                        else:
                            i = UNK
                    row.append(i)
                sents.append(row)
        return sents


def stream_pieces(sents, B, bptt):
    """The lm stream: [(x, y)] of shape [n, B], y one step after x."""
    flat = [w for s in sents for w in s + [EOS]]
    rows = len(flat) // B
    mat = torch.tensor(flat[:rows * B], dtype=torch.long).view(B, rows).t().contiguous()
    return [(mat[i:i + min(bptt, rows - 1 - i)], mat[i + 1:i + 1 + min(bptt, rows - 1 - i)])
            for i in range(0, rows - 1, bptt)]


def padded(seqs):
    """Time-major [longest, len(seqs)], padded with PAD."""
    out = torch.full((max(map(len, seqs)), len(seqs)), PAD, dtype=torch.long)
    for j, s in enumerate(seqs):
        out[:len(s), j] = torch.tensor(s, dtype=torch.long)
    return out


def bundles(src, tgt, B, bptt):
    """Translation bundles in file order: [(src [S,B], lengths [B], [(x, y), ...])]."""
    out = []
    for k in range(0, len(tgt), B):
        t = padded([[SOS] + y + [EOS] for y in tgt[k:k + B]])
        s = src[k:k + B]
        T = t.size(0)
        pieces = [(t[i:i + min(bptt, T - 1 - i)], t[i + 1:i + 1 + min(bptt, T - 1 - i)]) for i in range(0, T - 1, bptt)]
        out.append((padded(s), torch.tensor([len(x) for x in s]), pieces))
    return out


# ---- models -------------------------------------------------------------------------

def copy_from(ck, name, dst):
    """dst <- graphrun's parameter name (shapes must match: a model built alike)."""
    if name not in ck:
        sys.exit(f'torch_ref: the checkpoint has no parameter {name} (another model?)')
    if tuple(ck[name].shape) != tuple(dst.shape):
        sys.exit(f'torch_ref: the checkpoint\'s {name} is {list(ck[name].shape)}, this model\'s {list(dst.shape)} '
                 f'(give the same --dim, --ffn, --layers, --bptt as the model file)')
    dst.copy_(ck[name])


def copy_lstm(mod, ck, pre):
    """nn.LSTM mod <- graphrun's PRE.W_ih[l], PRE.W_hh[l], PRE.b[l] (b -> bias_ih, bias_hh 0)."""
    for l in range(mod.num_layers):
        copy_from(ck, f'{pre}.W_ih[{l + 1}]', getattr(mod, f'weight_ih_l{l}'))
        copy_from(ck, f'{pre}.W_hh[{l + 1}]', getattr(mod, f'weight_hh_l{l}'))
        copy_from(ck, f'{pre}.b[{l + 1}]', getattr(mod, f'bias_ih_l{l}'))
        getattr(mod, f'bias_hh_l{l}').zero_()


class Tied(nn.Module):
    """Embedding E and the output layer h @ E^T + bout, with dropout p."""

    def __init__(self, V, d, p):
        super().__init__()
        self.E = nn.Parameter(torch.empty(V, d).uniform_(-0.1, 0.1))
        self.bout = nn.Parameter(torch.zeros(V))
        self.p = p

    def embed(self, ids):
        return F.dropout(F.embedding(ids, self.E, padding_idx=PAD), self.p, self.training)

    def logits(self, h):
        return F.linear(F.dropout(h, self.p, self.training), self.E, self.bout)

    def load(self, ck):
        copy_from(ck, 'E', self.E); copy_from(ck, 'bout', self.bout)


class LstmLM(nn.Module):
    kind = 'stream'
    defaults = {}

    def __init__(self, V, a):
        super().__init__()
        self.tied = Tied(V, a.dim, a.dropout)
        self.dec = nn.LSTM(a.dim, a.dim, 2, dropout=a.dropout)

    def forward(self, x, state, src=None):
        h, state = self.dec(self.tied.embed(x), state)
        return self.tied.logits(h), state

    def load(self, ck):
        self.tied.load(ck); copy_lstm(self.dec, ck, 'dec')


class Encoder(nn.Module):
    def __init__(self, d, p):
        super().__init__()
        self.lstm = nn.LSTM(d, d, 2, dropout=p)

    def forward(self, e, lengths):
        """Outputs [S,B,d] (zero past each length) and the final (h, c) per sentence."""
        packed = nn.utils.rnn.pack_padded_sequence(e, lengths, enforce_sorted=False)
        out, final = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=e.size(0))
        return out, final


class CondLM(nn.Module):
    kind = 'bundles'
    defaults = {}

    def __init__(self, V, a):
        super().__init__()
        self.tied = Tied(V, a.dim, a.dropout)
        self.enc = Encoder(a.dim, a.dropout)
        self.dec = nn.LSTM(a.dim, a.dim, 2, dropout=a.dropout)

    def encode(self, src, lengths):
        mem, final = self.enc(self.tied.embed(src), lengths)
        return (mem, src == PAD), final

    def forward(self, x, state, memory):
        h, state = self.dec(self.tied.embed(x), state)
        return self.tied.logits(h), state

    def load(self, ck):
        self.tied.load(ck); copy_lstm(self.enc.lstm, ck, 'enc'); copy_lstm(self.dec, ck, 'dec')


class AttnLM(CondLM):
    """The decoder one step at a time: 2 LSTM cells, layer 0 reading [e_t; h~_{t-1}]."""

    def __init__(self, V, a):
        super().__init__(V, a)
        d = a.dim
        del self.dec
        self.cells = nn.ModuleList([nn.LSTMCell(2 * d, d), nn.LSTMCell(d, d)])
        self.W_in = nn.Linear(d, d, bias=False)
        self.W_c = nn.Linear(2 * d, d, bias=False)
        self.p = a.dropout

    def encode(self, src, lengths):
        mem, final = super().encode(src, lengths)
        h, c = final
        return mem, (h, c, torch.zeros_like(h[0]))   # h~ starts at zero

    def forward(self, x, state, memory):
        mem, pad = memory                              # [S,B,d], [S,B]
        h0, c0, feed = state
        h, c = list(h0), list(c0)
        e = self.tied.embed(x)
        outs = []
        for t in range(x.size(0)):
            inp = torch.cat([e[t], feed], 1)
            for i, cell in enumerate(self.cells):
                h[i], c[i] = cell(inp, (h[i], c[i]))
                if i + 1 < len(self.cells):
                    inp = F.dropout(h[i], self.p, self.training)
            q = self.W_in(h[-1])                        # [B,d]
            score = torch.einsum('sbd,bd->sb', mem, q).masked_fill(pad, float('-inf'))
            ctx = torch.einsum('sb,sbd->bd', torch.softmax(score, 0), mem)
            feed = torch.tanh(self.W_c(torch.cat([ctx, h[-1]], 1)))
            outs.append(feed)
        return self.tied.logits(torch.stack(outs)), (torch.stack(h), torch.stack(c), feed)

    def load(self, ck):
        self.tied.load(ck); copy_lstm(self.enc.lstm, ck, 'enc')
        for l, cell in enumerate(self.cells):
            copy_from(ck, f'dec.W_ih[{l + 1}]', cell.weight_ih); copy_from(ck, f'dec.W_hh[{l + 1}]', cell.weight_hh)
            copy_from(ck, f'dec.b[{l + 1}]', cell.bias_ih); cell.bias_hh.zero_()
        copy_from(ck, 'dec.W_in', self.W_in.weight); copy_from(ck, 'dec.W_c', self.W_c.weight)


class TfmLayer(nn.Module):
    """One pre-LN decoder layer on x [T,B,d] (src/tfm.h's layout and names)."""

    def __init__(self, d, heads, ffn, p):
        super().__init__()
        self.H, self.p = heads, p
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ff1, self.ff2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x):
        T, B, d = x.shape
        H, dh = self.H, d // self.H
        q, k, v = self.qkv(self.ln1(x)).view(T, B, 3, H, dh).permute(2, 1, 3, 0, 4)   # each [B,H,T,dh]
        s = (q @ k.transpose(2, 3)) / math.sqrt(dh)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf'))    # step t sees 0..t
        z = (torch.softmax(s, 3) @ v).permute(2, 0, 1, 3).reshape(T, B, d)              # heads side by side
        x = x + F.dropout(self.o(z), self.p, self.training)
        return x + F.dropout(self.ff2(F.relu(self.ff1(self.ln2(x)))), self.p, self.training)

    # graphrun's names (src/tfm.c, tfm_param_name) of this layer's tensors
    def named(self):
        return {'ln1_g': self.ln1.weight, 'ln1_b': self.ln1.bias, 'W_qkv': self.qkv.weight, 'b_qkv': self.qkv.bias,
                'W_o': self.o.weight, 'b_o': self.o.bias, 'ln2_g': self.ln2.weight, 'ln2_b': self.ln2.bias,
                'W_1': self.ff1.weight, 'b_1': self.ff1.bias, 'W_2': self.ff2.weight, 'b_2': self.ff2.bias}


class TfmLM(nn.Module):
    """models/transformer_lm.g: every bptt window on its own, P with one row per step."""
    kind = 'stream'
    defaults = {'dim': 128, 'lr': 1e-3, 'clip': 1.0, 'opt': 'adam'}

    def __init__(self, V, a):
        super().__init__()
        d = a.dim
        self.E = nn.Parameter(torch.empty(V, d).uniform_(-0.1, 0.1))
        with torch.no_grad():
            self.E[PAD].zero_()
        self.P = nn.Parameter(torch.empty(a.bptt, d).uniform_(-0.1, 0.1))
        self.bout = nn.Parameter(torch.zeros(V))
        self.layers = nn.ModuleList([TfmLayer(d, a.heads, a.ffn or 4 * d, a.dropout) for _ in range(a.layers)])
        self.lnf = nn.LayerNorm(d)
        self.p = a.dropout

    def forward(self, x, state, memory=None):
        h = F.dropout(F.embedding(x, self.E, padding_idx=PAD) + self.P[:x.size(0)].unsqueeze(1), self.p, self.training)
        for layer in self.layers:
            h = layer(h)
        return F.linear(self.lnf(h), self.E, self.bout), None

    def load(self, ck):
        names = ['E', 'P', 'bout', 'lnf_g', 'lnf_b']
        for name, q in zip(names, [self.E, self.P, self.bout, self.lnf.weight, self.lnf.bias]):
            copy_from(ck, name, q)
        block = {n.split('.')[0] for n in ck if '.' in n}
        if len(block) != 1:
            sys.exit(f'torch_ref: expected the parameters of one transformer block, found blocks {sorted(block)}')
        tf = block.pop()
        for l, layer in enumerate(self.layers):
            for name, q in layer.named().items():
                copy_from(ck, f'{tf}.{name}[{l + 1}]', q)
                names.append(f'{tf}.{name}[{l + 1}]')
        extra = sorted(set(ck) - set(names))
        if extra:
            sys.exit(f'torch_ref: the checkpoint has parameters this model lacks: {", ".join(extra)} (more --layers?)')


MODELS = {'lm': LstmLM, 'cond': CondLM, 'attn': AttnLM, 'tfm': TfmLM}


class Sgd:
    """q -= lr * grad after clipping (graphrun's sgd)."""

    def __init__(self, model, a):
        self.params = [q for q in model.parameters()]

    def step(self, lr, clip):
        nn.utils.clip_grad_norm_(self.params, clip)
        with torch.no_grad():
            for q in self.params:
                if q.grad is not None:
                    q.sub_(lr * q.grad)


class Adam:
    """torch.optim.Adam after clipping (graphrun's adam, src/optim.c); lr set each step."""

    def __init__(self, model, a):
        self.params = [q for q in model.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=a.lr, betas=tuple(a.betas), eps=a.eps)

    def step(self, lr, clip):
        nn.utils.clip_grad_norm_(self.params, clip)
        for g in self.opt.param_groups:
            g['lr'] = lr
        self.opt.step()


OPTIMIZERS = {'sgd': Sgd, 'adam': Adam}


# ---- parity with graphrun ---------------------------------------------------------------

def read_graphrun_ckpt(path):
    """{name: tensor} from a graphrun checkpoint (src/checkpoint.c, versions 1 and 2:
    the parameters come first in both; the training state and Adam's moments
    after them are not read)."""
    b = open(path, 'rb').read()
    if b[:7] != b'GRCKPT\0' or b[7] not in (1, 2):
        sys.exit(f'torch_ref: {path}: not a graphrun checkpoint of version 1 or 2')
    at, out = 8, {}
    def u32():
        nonlocal at
        at += 4
        return struct.unpack_from('<I', b, at - 4)[0]
    for _ in range(u32()):
        n = u32(); name = b[at:at + n].decode(); at += n
        shape = [u32() for _ in range(u32())]
        count = math.prod(shape)
        out[name] = torch.frombuffer(bytearray(b[at:at + 4 * count]), dtype=torch.float32).reshape(shape)
        at += 4 * count
    return out


# ---- training -----------------------------------------------------------------------

def detached(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state)


class Trainer:
    def __init__(self, a):
        self.a = a
        vocab = Vocab()
        self.train = vocab.read(f'{a.data}/train.txt', True)
        model_cls = MODELS[a.mode]
        if model_cls.kind == 'bundles':
            self.src_train = vocab.read(f'{a.data}/src-train.txt', True)
            self.src_valid = vocab.read(f'{a.data}/src-valid.txt', False)
        self.valid = vocab.read(f'{a.data}/valid.txt', False)
        self.V = len(vocab.words)
        self.model = model_cls(self.V, a)
        if a.init:
            with torch.no_grad():
                self.model.load(read_graphrun_ckpt(a.init))
        self.opt = OPTIMIZERS[a.opt](self.model, a)
        self.steps = 0
        self.lr = a.lr
        if model_cls.kind == 'stream':
            self.sets = {True: stream_pieces(self.train, a.batch, a.bptt), False: stream_pieces(self.valid, a.vbatch or 1, a.bptt)}
        else:
            self.sets = {True: bundles(self.src_train, self.train, a.batch, a.bptt),
                         False: bundles(self.src_valid, self.valid, a.vbatch or 60, a.bptt)}

    def piece(self, x, y, state, memory, training):
        """One piece: forward (and a step when training); returns summed NLL, count, state."""
        logits, state = self.model(x, state, memory)
        nll = F.cross_entropy(logits.reshape(-1, self.V), y.reshape(-1), ignore_index=PAD, reduction='sum')
        count = int((y != PAD).sum())
        if training:
            self.model.zero_grad()
            (nll / count).backward()
            self.steps += 1
            if self.steps <= self.a.debug:
                norm = math.sqrt(sum(float(q.grad.double().pow(2).sum()) for q in self.model.parameters() if q.grad is not None))
                print(f'# step {self.steps} loss {nll.item() / count:.6f} ntok {count} gradnorm {norm:.6f}', flush=True)
                if self.steps == 1:
                    for name, q in self.model.named_parameters():
                        if q.grad is not None:
                            print(f'#   {name:24s} {q.grad.double().norm().item():.6e}', flush=True)
            self.opt.step(self.lr, self.a.clip)
            if self.steps == self.a.stop_after:
                sys.exit(0)
        return nll.item(), count, state

    def run(self, training):
        self.model.train(training)
        total, ntok = 0.0, 0
        with torch.set_grad_enabled(training):
            if self.model.kind == 'stream':
                state = None
                for x, y in self.sets[training]:
                    s, n, state = self.piece(x, y, detached(state), None, training)
                    total += s; ntok += n
            else:
                for src, lengths, pieces in self.sets[training]:
                    memory, state = self.model.encode(src, lengths)
                    for k, (x, y) in enumerate(pieces):
                        if k and training:            # the encoder again, for this piece's step
                            memory, _ = self.model.encode(src, lengths)
                            state = detached(state)
                        s, n, state = self.piece(x, y, state, memory, training)
                        total += s; ntok += n
        return total, ntok


    def epochs(self):
        """Trains; after each epoch yields its number, train and valid perplexity, the
        lr it trained at, its training seconds and tokens.  lr / decay after an epoch
        without a new best validation loss."""
        best = math.inf
        for ep in range(1, self.a.epochs + 1):
            t0 = time.time()
            tr, tn = self.run(True)
            sec = time.time() - t0
            vl, vn = self.run(False)
            yield ep, math.exp(tr / tn), math.exp(vl / vn), self.lr, sec, tn
            if vl / vn < best:
                best = vl / vn
            else:
                self.lr /= self.a.decay


def parse(argv):
    """The settings of argv (a list of flags), each mode's defaults filled in."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data', default='data')
    p.add_argument('--mode', default='lm', choices=sorted(MODELS))
    p.add_argument('--dim', type=int, help='model width (default 100; tfm 128)')
    p.add_argument('--dropout', type=float, default=0.2)
    p.add_argument('--lr', type=float, help='learning rate (default 20; tfm 1e-3)')
    p.add_argument('--clip', type=float, help='global gradient norm clip (default 0.25; tfm 1)')
    p.add_argument('--decay', type=float, default=4.0)
    p.add_argument('--opt', choices=sorted(OPTIMIZERS), help='optimizer (default sgd; tfm adam)')
    p.add_argument('--betas', type=float, nargs=2, metavar=('B1', 'B2'), help='adam only (default 0.9 0.999)')
    p.add_argument('--eps', type=float, help='adam only (default 1e-8)')
    p.add_argument('--heads', type=int, help='tfm only (default 4)')
    p.add_argument('--ffn', type=int, help='tfm only: FFN width (default 4 * dim)')
    p.add_argument('--layers', type=int, help='tfm only (default 2)')
    p.add_argument('--batch', type=int, default=20)
    p.add_argument('--vbatch', type=int, default=0, help='validation batch (0: 1 for lm and tfm, 60 for cond and attn)')
    p.add_argument('--bptt', type=int, default=35)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--seed', type=int, default=1111)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--init', help='start from this graphrun checkpoint')
    p.add_argument('--debug', type=int, default=0, metavar='N', help='loss and gradient norm of the first N steps')
    p.add_argument('--stop-after', type=int, default=0, metavar='N', help='end after N steps')
    a = p.parse_args(argv)
    for k, v in {'dim': 100, 'lr': 20.0, 'clip': 0.25, 'opt': 'sgd', **MODELS[a.mode].defaults}.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.mode != 'tfm':
        for k in ('heads', 'ffn', 'layers'):
            if getattr(a, k) is not None:
                p.error(f'--{k} applies to --mode tfm only')
    else:
        a.heads, a.ffn, a.layers = a.heads or 4, a.ffn or 4 * a.dim, a.layers or 2
        if a.dim % a.heads:
            p.error(f'--dim {a.dim} does not split into {a.heads} heads')
    if a.opt != 'adam' and (a.betas is not None or a.eps is not None):
        p.error('--betas and --eps apply to --opt adam only')
    a.betas, a.eps = a.betas or [0.9, 0.999], 1e-8 if a.eps is None else a.eps
    return a


def main():
    a = parse(sys.argv[1:])
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    t = Trainer(a)
    print(f'torch_ref: {a.mode}, d {a.dim}, V {t.V}, {len(t.train)} sentences, {a.opt} lr {a.lr} clip {a.clip}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads', flush=True)
    for ep, tppl, vppl, lr, sec, ntok in t.epochs():
        print(f'epoch {ep} train_ppl {tppl:.2f} valid_ppl {vppl:.2f} sec {sec:.2f} tok/s {ntok / sec:.0f}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
