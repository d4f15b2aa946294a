# expect 4:7: '@' needs [n,k] @ [k,m] (inner dimensions equal), got [2,3] and [2]
param W: [2, 3] = 0
input x = [1, 2]
z = W @ x
output z
