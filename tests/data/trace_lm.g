# The toy size of tests/test_trace_seq.c: models/lm.g at d = 4, batch 2, bptt 4, with
# dropout 0 so that tests/trace_torch.py can compute the same step (tests/fixtures/).
data  train = "tests/data/tiny-train.txt", valid = "tests/data/tiny-valid.txt"
const d = 4

param E: [V, d] ~ uniform(-0.1, 0.1)      # embeddings, tied to the output layer
param bout: [V] = 0
block dec = lstm(in = d, hidden = d, layers = 2, dropout = 0)

e      = dropout(embed(E, x, pad = 0), 0)
h      = dec(e)
logits = dropout(h, 0) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 2, bptt = 4, epochs = 10, seed = 1111
