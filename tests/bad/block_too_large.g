# expect 3:13: block 'dec' would have a weight matrix of 1.44e+10 elements, more than the limit of 2147483648
input x = 1
block dec = lstm(in = 100, hidden = 60000)
output x
