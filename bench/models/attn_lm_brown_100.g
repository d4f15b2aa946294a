# bench: models/attn_lm.g on the Brown corpus (bench/data/brown/, made by bench/run), dimension 100.
# Only the data paths and d differ from models/attn_lm.g; everything else is the same.
#   bench/run makes bench/data/brown/; then ./graphrun bench/models/attn_lm_brown_100.g --train --epochs 1
# At each decoder step t: score_j = m_j . (W_in h_t) over the encoder outputs
# (padding masked), c_t = softmax(score) m, h~_t = tanh(W_c [c_t ; h_t]);
# h~_t goes to the output layer and, concatenated with the next embedding,
# into the next step (input feeding).  The decoder starts from the encoder's
# final state.
data  train = "bench/data/brown/train.txt", valid = "bench/data/brown/valid.txt",
      src_train = "bench/data/brown/src-train.txt", src_valid = "bench/data/brown/src-valid.txt"
const d = 100

param E: [V, d] ~ uniform(-0.1, 0.1)
param bout: [V] = 0
block enc = lstm(in = d, hidden = d, layers = 2, dropout = 0.2)
block dec = attn_lstm(in = d, hidden = d, layers = 2, dropout = 0.2)

m      = enc(dropout(embed(E, src, pad = 0), 0.2), lengths = src_len)
h      = dec(dropout(embed(E, x, pad = 0), 0.2), memory = m, lengths = src_len, init = m)
logits = dropout(h, 0.2) @ transpose(E) + bout
loss   = cross_entropy(logits, y, ignore = 0)
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 20, bptt = 35, epochs = 10, seed = 1111
