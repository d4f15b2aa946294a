for i in 1..2 {
  input x[i] = 1
}
y = sum(dropout(x[1..2]))
output y
