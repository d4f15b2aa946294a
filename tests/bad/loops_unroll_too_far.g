# expect 2:21: the model unrolls into more than 2000000 steps (loop iterations, names and nodes); make the loops smaller
for i in 1..100000, j in 1..100000 {
}
input x = 1
output x
