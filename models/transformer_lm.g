# Transformer language model: decoder-only, causal, pre-LN, on the same
# stream as the LSTM LM (models/lm.g).  Each layer:
#   x = x + dropout(W_o concat_h(softmax(mask(q_h k_h^T / sqrt(dh))) v_h) + b_o)
#   x = x + dropout(W_2 relu(W_1 LN2(x) + b_1) + b_2),   q, k, v from LN1(x)
# The `transformer` block runs fused kernels (src/tfm.c); the same layers
# written out, the heads as Problem 2 writes them, are
# models/transformer_lm_heads.g (and models/transformer_layer.g, one layer).
#   graphrun models/transformer_lm.g --train
# Each bptt window is read on its own (no state carries over); P has one row
# per position of a window.  docs/transformer.md compares it with the LSTM.
data  train = "data/train.txt", valid = "data/valid.txt"
const d = 128
const Tmax = 35                          # positions (= bptt)

param E: [V, d] ~ uniform(-0.1, 0.1)      # embeddings, tied to the output layer
param P: [Tmax, d] ~ uniform(-0.1, 0.1)   # positions
param bout: [V] = 0
param lnf_g: [d] = 1                      # the final layer norm
param lnf_b: [d] = 0
block tf = transformer(d = d, heads = 4, ffn = 4 * d, layers = 2, dropout = 0.2)

x0     = dropout(embed(E, x, pad = 0) + positions(P, x), 0.2)
h      = tf(x0)
logits = layer_norm(h, lnf_g, lnf_b) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train adam(lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, clip = 1, decay = 4), batch = 20, bptt = 35, epochs = 10, seed = 1111
