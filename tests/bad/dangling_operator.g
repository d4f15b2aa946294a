# expect 3:8: unexpected end of line
input x = 1
z = x +
output z
