# The toy size of tests/test_trace_seq.c: models/cond_lm.g at d = 4, batch 2, bptt 4, with
# dropout 0 so that tests/trace_torch.py can compute the same step (tests/fixtures/).
data  train = "tests/data/trace-train.txt", valid = "tests/data/trace-valid.txt",
      src_train = "tests/data/trace-src-train.txt", src_valid = "tests/data/trace-src-valid.txt"
const d = 4

param E: [V, d] ~ uniform(-0.1, 0.1)      # shared by encoder, decoder and output
param bout: [V] = 0
block enc = lstm(in = d, hidden = d, layers = 2, dropout = 0)
block dec = lstm(in = d, hidden = d, layers = 2, dropout = 0)

m      = enc(dropout(embed(E, src, pad = 0), 0), lengths = src_len)
h      = dec(dropout(embed(E, x, pad = 0), 0), init = m)
logits = dropout(h, 0) @ transpose(E) + bout
loss   = cross_entropy(logits, y, ignore = 0)    # padding is not predicted
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 2, bptt = 4, epochs = 10, seed = 1111
