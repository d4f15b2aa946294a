/*
** lstm.c — fused LSTM kernels: one cell step forward/backward, and a
** multi-layer LSTM over a whole time-major sequence.
**
** Products go to OpenBLAS (cblas_sgemm); everything elementwise is one fused
** pass per step.  Gate order and weight layout follow PyTorch (see lstm.h),
** so numbers can be compared with torch.nn.LSTM directly.
*/
#include <math.h>
#include <string.h>
#include <assert.h>
#include <cblas.h>
#include "lstm.h"

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ---- one cell step ------------------------------------------------------ */

/* Contract in lstm.h.  Row b of gates is [i | f | g | o], each H wide. */
void lstm_cell_fwd(int B, int H, float *gates, const float *c_prev, float *c, float *h) {
  for (int b = 0; b < B; b++) {
    float *gi = gates + (size_t)b * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
    const float *cp = c_prev + (size_t)b * H;
    float *cb = c + (size_t)b * H, *hb = h + (size_t)b * H;
    for (int j = 0; j < H; j++) {
      float i = sigm(gi[j]), f = sigm(gf[j]), g = tanhf(gg[j]), o = sigm(go[j]);
      float cc = f * cp[j] + i * g;
      gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;
      cb[j] = cc;
      hb[j] = o * tanhf(cc);
    }
  }
}

/* Contract in lstm.h.  With tc = tanh(c) and dC = dc + dh*o*(1-tc^2):
**   do = dh*tc*o(1-o),  di = dC*g*i(1-i),  df = dC*c_prev*f(1-f),
**   dg = dC*i*(1-g^2),  dc_prev = dC*f.
** dgates may not alias gates; dc_prev may alias dc (read before write). */
void lstm_cell_bwd(int B, int H, const float *gates, const float *c_prev, const float *c,
                   const float *dh, const float *dc, float *dgates, float *dc_prev) {
  for (int b = 0; b < B; b++) {
    const float *gi = gates + (size_t)b * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
    float *di = dgates + (size_t)b * 4 * H, *df = di + H, *dg = df + H, *dout = dg + H;
    const float *cp = c_prev + (size_t)b * H, *cb = c + (size_t)b * H, *dhb = dh + (size_t)b * H;
    const float *dcb = dc ? dc + (size_t)b * H : NULL;
    float *dcp = dc_prev + (size_t)b * H;
    for (int j = 0; j < H; j++) {
      float i = gi[j], f = gf[j], g = gg[j], o = go[j];
      float tc = tanhf(cb[j]);
      float dC = (dcb ? dcb[j] : 0.0f) + dhb[j] * o * (1.0f - tc * tc);
      dout[j] = dhb[j] * tc * o * (1.0f - o);
      di[j] = dC * g * i * (1.0f - i);
      df[j] = dC * cp[j] * f * (1.0f - f);
      dg[j] = dC * i * (1.0f - g * g);
      dcp[j] = dC * f;
    }
  }
}
