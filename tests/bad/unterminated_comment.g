# expect 3:1: unterminated comment
input x = 1
/* a comment that
 never ends
output x
