# expect 2:16: unknown initialiser 'gauss'
param W: [2] ~ gauss(0, 1)
output W
