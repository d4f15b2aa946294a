# expect 5:5: 'layer_norm' needs x [..., d], a gain [d] and a bias [d], got [2,3], [3] and [2]
input x: [2, 3] = 1
param g: [3] = 1
param b: [2] = 0
y = layer_norm(x, g, b)
output y
