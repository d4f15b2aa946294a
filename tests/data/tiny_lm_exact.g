# tests/data/tiny_lm.g without dropout: runs over any number of processes give the same numbers (test_dist.c).
#   graphrun models/lm.g --train
# The `data` statement reads the corpus and defines V (vocabulary size) and the
# token inputs x, y ([T, B]: B parallel streams, T = bptt steps; y is x one
# step later).  The lstm block carries its state from one bptt piece to the
# next, with the gradient stopped there (truncated backprop through time).
data  train = "tests/data/tiny-train.txt", valid = "tests/data/tiny-valid.txt"
const d = 6

param E: [V, d] ~ uniform(-0.1, 0.1)      # embeddings, tied to the output layer
param bout: [V] = 0
block dec = lstm(in = d, hidden = d, layers = 2, dropout = 0)

e      = dropout(embed(E, x, pad = 0), 0)
h      = dec(e)
logits = dropout(h, 0) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 3, bptt = 5, epochs = 10, seed = 1111
