# expect 2:11: sqrt of a negative number (-4) in a constant expression
const a = sqrt(2 - 6)
input x = a
output x
