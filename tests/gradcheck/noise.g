# The gradient check at float32 rounding: dz/da = 2a = 0.001 is right, but
# z = 50 + 2.5e-7 is stored with a spacing of 3.8e-6, so a difference quotient
# in float32 cannot see a's effect well.  --gradcheck must not call it wrong.
param w = 50
param a = 0.0005
z = w + a * a
output z
