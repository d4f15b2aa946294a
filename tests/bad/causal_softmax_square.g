# expect 3:5: 'causal_softmax' needs square score matrices [..., T, T], got [2,3]
input s: [2, 3] = 1
y = causal_softmax(s)
output y
