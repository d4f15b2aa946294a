# expect 5:5: 'q[3]' is not defined (that index was never assigned)
for i in 1..2 {
  q[i] = i * 2
}
z = q[3]
output z
