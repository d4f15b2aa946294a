# expect 3:8: an index must be a whole number from -1000000 to 1000000, got 1.5
input x[1] = 1
z = x[3/2]
output z
