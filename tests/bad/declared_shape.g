# expect 2:16: 'x' is declared [3] but its value is [2]
input x: [3] = [1, 2]
output x
