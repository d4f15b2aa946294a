# tests/data/tiny_cond_lm.g without dropout: runs over any number of processes give the same numbers (test_dist.c).
# final (h, c), for every layer, starts the decoder.
#   graphrun models/cond_lm.g --train
# With src_train the `data` statement works in translation mode: bundles of B
# sentence pairs, targets "<sos> y <eos>" padded with <pad> (id 0), sources
# padded with lengths.  It defines V, src [S, B], src_len [B], x and y [T, B].
data  train = "tests/data/tiny-train.txt", valid = "tests/data/tiny-valid.txt",
      src_train = "tests/data/tiny-src-train.txt", src_valid = "tests/data/tiny-src-valid.txt"
const d = 6

param E: [V, d] ~ uniform(-0.1, 0.1)      # shared by encoder, decoder and output
param bout: [V] = 0
block enc = lstm(in = d, hidden = d, layers = 2, dropout = 0)
block dec = lstm(in = d, hidden = d, layers = 2, dropout = 0)

m      = enc(dropout(embed(E, src, pad = 0), 0), lengths = src_len)
h      = dec(dropout(embed(E, x, pad = 0), 0), init = m)
logits = dropout(h, 0) @ transpose(E) + bout
loss   = cross_entropy(logits, y, ignore = 0)    # padding is not predicted
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 3, bptt = 5, epochs = 10, seed = 1111
