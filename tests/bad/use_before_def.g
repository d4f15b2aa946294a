# expect 3:5: 'y' is used before it is defined (at 4:1)
input x = 1
z = y * 2
y = x + 1
output z
