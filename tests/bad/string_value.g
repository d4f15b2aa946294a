# expect 2:5: a string is not a value here
z = "a"
output z
