# expect 3:5: 'relu' takes one argument, got 2
input x = 1
z = relu(x, x)
output z
