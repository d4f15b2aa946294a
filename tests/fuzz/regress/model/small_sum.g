input x = 1
z = x + x
output z
