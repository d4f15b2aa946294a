#!/usr/bin/python3
"""lstm_torch.py — runs torch.nn.LSTM on a problem written by test_lstm.c, for layout checks.

usage: lstm_torch.py IN OUT
IN  (little-endian): int32 T, B, D, H, L, has_len; int32 len[B] if has_len; then float32
    x[T,B,D], h0[L,B,H], c0[L,B,H], per layer W_ih[4H,in], W_hh[4H,H], b[4H];
    dy[T,B,H], dhN[L,B,H], dcN[L,B,H].
OUT float32: y, hN, cN, dx, dh0, dc0, per layer dW_ih, dW_hh, db.
Computed in float64 with bias_ih = b, bias_hh = 0; the loss is
sum(y*dy) + sum(hN*dhN) + sum(cN*dcN), so its gradients are the backward of (dy, dhN, dcN).
With lengths, the input goes through pack_padded_sequence (enforce_sorted=False).
"""
import sys
import numpy as np
import torch

def main():
    raw = open(sys.argv[1], 'rb').read()
    T, B, D, H, L, has_len = np.frombuffer(raw, '<i4', 6); off = 24
    lens = None
    if has_len:
        lens = np.frombuffer(raw, '<i4', B, off).copy(); off += 4 * B
    fl = np.frombuffer(raw, '<f4', offset=off).astype(np.float64); pos = 0
    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape)); a = fl[pos:pos + n].reshape(shape); pos += n
        return torch.tensor(a, dtype=torch.float64)
    x, h0, c0 = take(T, B, D), take(L, B, H), take(L, B, H)
    lstm = torch.nn.LSTM(int(D), int(H), int(L)).double()
    with torch.no_grad():
        for l in range(L):
            inp = D if l == 0 else H
            getattr(lstm, f'weight_ih_l{l}').copy_(take(4 * H, inp))
            getattr(lstm, f'weight_hh_l{l}').copy_(take(4 * H, H))
            getattr(lstm, f'bias_ih_l{l}').copy_(take(4 * H))
            getattr(lstm, f'bias_hh_l{l}').zero_()
    dy, dhN, dcN = take(T, B, H), take(L, B, H), take(L, B, H)
    assert pos == fl.size, 'input size mismatch'
    for t in (x, h0, c0): t.requires_grad_(True)
    if lens is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lens), enforce_sorted=False)
        yp, (hN, cN) = lstm(packed, (h0, c0))
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, total_length=int(T))
    else:
        y, (hN, cN) = lstm(x, (h0, c0))
    loss = (y * dy).sum() + (hN * dhN).sum() + (cN * dcN).sum()
    loss.backward()
    outs = [y, hN, cN, x.grad, h0.grad, c0.grad]
    for l in range(L):
        outs += [getattr(lstm, f'weight_ih_l{l}').grad, getattr(lstm, f'weight_hh_l{l}').grad,
                 getattr(lstm, f'bias_ih_l{l}').grad]
    with open(sys.argv[2], 'wb') as f:
        for o in outs:
            f.write(o.detach().numpy().astype('<f4').tobytes())

if __name__ == '__main__':
    main()
