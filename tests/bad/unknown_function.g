# expect 3:5: unknown function 'foo'
input x = 1
z = foo(x)
output z
