# expect 2:7: '2x' is not a number or a name
input 2x = 1
output x
