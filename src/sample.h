/*
** sample.h — sentences sampled from a trained sequence model (--generate).
**
** A language model starts from <eos> (the boundary between sentences of its
** training stream), a translation model from <sos> with the source sentence
** it is conditioned on.  Each step draws the next word from the model's
** distribution, sharpened or flattened by a temperature and optionally cut
** to the k most probable words, feeds it back and carries the state
** (decode.h's Decoder, T = 1 pieces).  A sentence ends when <eos> is drawn
** or after max_len words.
**
** What can be drawn: every word of the vocabulary and <unk> (a word of the
** data: the corpora write rare words as <unk>, and the perplexity counts
** it), and <eos>, which ends the sentence.  Never <pad> or <sos>: no target
** is ever one of them, so the model only gives them leftover probability.
*/
#ifndef GR_SAMPLE_H
#define GR_SAMPLE_H
#include "model.h"

#define SAMPLE_MAX_LEN 100     /* default --max-len */

typedef struct SampleOpts {
  long count;              /* --generate N: sentences (per source sentence)   */
  double temperature;      /* --temperature T: softmax(z / T); 0 = 1          */
  long top_k;              /* --top-k K: only the K most probable; 0 = all     */
  long max_len;            /* --max-len N: words after the prompt; 0 = default */
  const char *prompt;      /* --prompt "words": every sentence starts with them */
  const char *sentences;   /* translation models: --sentences 1,5,9 (valid)  */
  unsigned long seed;      /* the random draws                               */
} SampleOpts;

/* One draw from softmax(z[0..V) / temperature) over the tokens that may be
** drawn (decode_emittable), cut to the top_k largest z (0: all; ties go to
** the lower id).  u in [0, 1) picks by the cumulative sum in id order.
** scratch holds V ints.  Returns the token id. */
int sample_pick(const float *z, int V, double temperature, int top_k, double u, int *scratch);

/* Samples o->count sentences on stdout, one per line: a language model's,
** or for each chosen validation source sentence of a translation model a
** line "# sentence K of FILE: its words" and then its samples.  Notes on
** stderr (a prompt word not in the vocabulary, a sentence cut at max_len).
** 0, or -1 with a message. */
int sample_main(Model *m, const SampleOpts *o, Err *e);

#endif
