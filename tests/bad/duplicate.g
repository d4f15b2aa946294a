# expect 3:7: 'w' is already defined (at 2:7)
param w = 1
param w = 2
output w
