# expect 4:5: 'attend' needs weights [..., T, T] and values [T, ..., e] (the same streams and T), got [2,3,3] and [3,3,4]
input p: [2, 3, 3] = 1
input v: [3, 3, 4] = 1
y = attend(p, v)
output y
