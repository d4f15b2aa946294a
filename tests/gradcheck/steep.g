# The gradient check on a steep curve: dz/dw = 25 is right, but a plain
# central difference with h = 0.01 gives 25.26 (1% off: curvature).
# --gradcheck must not call it wrong.
param w = 0
z = exp(25 * w)
output z
