# expect 2:5: unknown name 'y'
z = y + 1
output z
