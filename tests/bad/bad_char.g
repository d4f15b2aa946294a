# expect 3:7: unexpected character '$'
input x = 1
z = x $ 2
output z
