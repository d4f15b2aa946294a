# bench: models/cond_lm.g on the Brown corpus (bench/data/brown/, made by bench/run), dimension 100.
# Only the data paths and d differ from models/cond_lm.g; everything else is the same.
# final (h, c), for every layer, starts the decoder.
#   bench/run makes bench/data/brown/; then ./graphrun bench/models/cond_lm_brown_100.g --train --epochs 1
# With src_train the `data` statement works in translation mode: bundles of B
# sentence pairs, targets "<sos> y <eos>" padded with <pad> (id 0), sources
# padded with lengths.  It defines V, src [S, B], src_len [B], x and y [T, B].
data  train = "bench/data/brown/train.txt", valid = "bench/data/brown/valid.txt",
      src_train = "bench/data/brown/src-train.txt", src_valid = "bench/data/brown/src-valid.txt"
const d = 100

param E: [V, d] ~ uniform(-0.1, 0.1)      # shared by encoder, decoder and output
param bout: [V] = 0
block enc = lstm(in = d, hidden = d, layers = 2, dropout = 0.2)
block dec = lstm(in = d, hidden = d, layers = 2, dropout = 0.2)

m      = enc(dropout(embed(E, src, pad = 0), 0.2), lengths = src_len)
h      = dec(dropout(embed(E, x, pad = 0), 0.2), init = m)
logits = dropout(h, 0.2) @ transpose(E) + bout
loss   = cross_entropy(logits, y, ignore = 0)    # padding is not predicted
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 20, bptt = 35, epochs = 10, seed = 1111
