# expect 2:16: ')' closes the '[' opened at 2:11
input x = [1, 2)
output x
