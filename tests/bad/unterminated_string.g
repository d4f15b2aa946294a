# expect 2:14: unterminated string
data train = "data/train.txt
