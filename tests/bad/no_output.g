# expect 0:0: no 'output' statement
input x = 1
z = x * 2
