# expect 2:20: ragged literal: this list has 1 items, an earlier one at the same depth has 2
input x = [[1, 2], [3]]
output x
