# expect 4:7: '.' needs two vectors of the same length, got [2] and [3]
input u = [1, 2]
input v = [1, 2, 3]
z = u . v
output z
