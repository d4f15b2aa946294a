/*
** decode.h — looking inside a trained translation model (cond_lm, attn_lm):
** attention weights as text and as an SVG heat map, and decoding new source
** sentences greedily or with a beam (docs/attention.md shows the output).
**
** Everything runs the model's own graph in eval mode (dropout off):
**   teacher forcing: one forward over a whole reference target;
**   greedy and beam: one forward per output step with T = 1 pieces, the
**     decoder's state carried from step to step (lstm carry, attn_dec_carry)
**     and, for the beam, rearranged with the surviving hypotheses
**     (seqop_lstm_reorder, attn_dec_reorder).
*/
#ifndef GR_DECODE_H
#define GR_DECODE_H
#include "model.h"

/* The command-line options of this module (main.c fills them). */
typedef struct DecodeOpts {
  int show_attention;      /* --show-attention                               */
  const char *sentences;   /* --sentences 1,5,9 (1-based, validation data)  */
  const char *svg;         /* --attention-svg FILE                          */
  const char *translate;   /* --translate FILE                              */
  const char *ref;         /* --ref FILE (with --translate): BLEU on stderr */
  long beam;               /* --beam K; 0 = greedy                          */
} DecodeOpts;

/* A model ready to decode: its logits and (attn_lm) attention node; the
** token inputs are the data statement's (m->data->tok, model_feed). */
typedef struct Decoder {
  Model *m;
  Node *logits, *attn;
  int V;
  Exec ex;
} Decoder;

/* 0, or -1 with a located message if m is not a sequence model with a
** cross_entropy output.  A language model has no source: decoder_forward
** ignores its source arguments. */
int  decoder_init(Decoder *d, Model *m, Err *e);

/* One teacher-forced forward of B sentences as a batch: src [Ts,B] padded
** with <pad>, slen [B] (each >= 1), x [T,B] the decoder's inputs.  The
** logits [T,B,V] are then in d->logits->val.data and, for attn_lm,
** attn_dec_weights(d->attn, ...) holds the weights [T,B,Ts].  carry = 1
** continues the decoder from its last forward (as the step-by-step
** decoders do); 0 starts from the encoder.  0 or -1 with a message. */
int  decoder_forward(Decoder *d, int Ts, int B, const int32_t *src, const int32_t *slen,
                     int T, const int32_t *x, int carry, Err *e);

/* Greedy decoding of one source sentence src[0..slen): from <sos>, one step
** at a time, the most probable token (never <pad> or <sos>; the lower id on
** a tie) until <eos> or maxlen words.  Writes the words (no <eos>) to out
** (room for maxlen) and their count to *n; *steps = forwards run (n, or
** n + 1 when <eos> ended it).  probs, if not NULL, gets each step's whole
** distribution (room for maxlen rows of V).  0 or -1 with a message. */
int  decode_greedy(Decoder *d, const int32_t *src, int slen, int maxlen,
                   int32_t *out, int *n, int *steps, float *probs, Err *e);

/* Beam search with K hypotheses (K rows decoded as one batch).  A hypothesis
** leaves the beam when it predicts <eos> or reaches maxlen words; the beam
** shrinks by one each time and the search stops when it is empty.  The
** result is the finished hypothesis with the best length-normalised score:
** its log-probability divided by the tokens it predicted (words, plus one
** for <eos>).  K = 1 is greedy decoding.  Writes out, *n as decode_greedy;
** *score = that normalised score.  0 or -1 with a message. */
int  decode_beam(Decoder *d, const int32_t *src, int slen, int K, int maxlen,
                 int32_t *out, int *n, double *score, Err *e);

/* The tokens a decoder may emit: not <pad>, not <sos> (<eos> ends). */
int  decode_emittable(int tok);

/* "1,5,9" -> 0-based indices below max (in *out, malloc'ed); NULL: the
** first three (at most max).  Returns the count, or -1 with a message
** naming --sentences (file: the data they index, for the message). */
int  decode_sentences(const char *list, long max, const char *file, int **out, Err *e);

/* The longest output for a source of slen words: 2 * slen + 10. */
int  decode_maxlen(int slen);

/* Runs what o asks for (on stdout; an SVG file); 0 or -1 with a message.
** m's parameters are as trained or loaded. */
int  decode_main(Model *m, const DecodeOpts *o, Err *e);
int  decode_wanted(const DecodeOpts *o);

/* The SVG heat map of one sentence's attention: rows = the T target words
** (what each step predicts), columns = the S source words, w [T,S]. */
char *decode_svg(const char *const *src_words, int S, const char *const *tgt_words, int T,
                 const float *w);

#endif
