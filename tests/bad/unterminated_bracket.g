# expect 4:1: unexpected 'output', expecting ']' or ',' (the '[' opened at 2:11 is still open)
input x = [1, 2,
  3
output x
