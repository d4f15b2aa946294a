# bench: models/lm.g on the Brown corpus (bench/data/brown/, made by bench/run), dimension 256.
# Only the data paths and d differ from models/lm.g; everything else is the same.
#   bench/run makes bench/data/brown/; then ./graphrun bench/models/lm_brown_256.g --train --epochs 1
# The `data` statement reads the corpus and defines V (vocabulary size) and the
# token inputs x, y ([T, B]: B parallel streams, T = bptt steps; y is x one
# step later).  The lstm block carries its state from one bptt piece to the
# next, with the gradient stopped there (truncated backprop through time).
data  train = "bench/data/brown/train.txt", valid = "bench/data/brown/valid.txt"
const d = 256

param E: [V, d] ~ uniform(-0.1, 0.1)      # embeddings, tied to the output layer
param bout: [V] = 0
block dec = lstm(in = d, hidden = d, layers = 2, dropout = 0.2)

e      = dropout(embed(E, x, pad = 0), 0.2)
h      = dec(e)
logits = dropout(h, 0.2) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train sgd(lr = 20, clip = 0.25, decay = 4), batch = 20, bptt = 35, epochs = 10, seed = 1111
