# expect 2:11: unterminated '[' (no matching ']' before the end of the file)
input x = [1, 2,
  3