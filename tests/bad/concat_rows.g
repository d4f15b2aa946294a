# expect 4:5: 'concat' joins along the last axis and needs the other axes equal
input a: [2, 2] = 0
input b: [3, 2] = 0
z = concat(a, b)
output z
