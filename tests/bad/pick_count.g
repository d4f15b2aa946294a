# expect 3:11: the right side has shape [3], but the left side names 2 items
input a = [1, 2, 3]
b[1..2] = softmax(a)
output b[1]
