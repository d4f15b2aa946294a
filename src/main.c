/*
** main.c — the command line.
**
**   graphrun FILE [--trace] [--json] [--dot [--values] [--no-ops]]
**                 [--gradcheck] [--set NAME=VALUE]...
**   graphrun FILE [--train] [--load F] [--show-attention] [--translate F] ...
**   graphrun bleu HYP REF [REF...] [--json]
**
** Exit status: 0 success, 1 a bad model/data/result, 2 a bad command line.
** Every error is one line on stderr that names its file:line:col or flag.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "show.h"
#include "train.h"
#include "bleu.h"

#define GR_VERSION "0.1.0"

static void usage(FILE *f) {
  fputs("usage: graphrun FILE [options]        run a model file\n"
        "       graphrun bleu HYP REF [REF...]  corpus BLEU of a hypothesis file\n"
        "\n"
        "options for FILE:\n"
        "  --trace            forward pass and backprop, step by step\n"
        "  --json             values and gradients of every named node, as JSON\n"
        "  --dot              Graphviz drawing on stdout (render: dot -Tsvg)\n"
        "  --values           with --dot: value and gradient in every box\n"
        "  --no-ops           with --dot: edges straight between values, no op circles\n"
        "  --no-params        with --dot: leave the parameters (weights) out\n"
        "  --max-index K      with --dot: leave out names with an index above K\n"
        "  --gradcheck        compare gradients with central finite differences\n"
        "  --set NAME=VALUE   override an input or param (repeatable): --set x=2\n"
        "  --backprop NAME    the scalar output to differentiate (default: the only\n"
        "                     scalar output, or the last one)\n"
        "\n"
        "sequence models (a file with data/block/train statements):\n"
        "  --train            train; one line per epoch\n"
        "  --epochs N, --lr X, --batch N, --bptt N, --clip X, --decay X, --seed N,\n"
        "  --vbatch N, --patience N, --threads N     override the file's train settings\n"
        "  --save FILE        keep the best model (atomic write)\n"
        "  --load FILE        start from a saved model\n"
        "  --checkpoint FILE  after every epoch, the model and the training state\n"
        "  --resume FILE      go on training from such a checkpoint\n"
        "  --eval             perplexity of the validation data (with --load)\n"
        "  --generate N       sample N sentences from a language model\n"
        "  --metrics FILE     CSV: epoch,train_ppl,valid_ppl,lr,seconds,tokens_per_s\n"
        "\n"
        "translation models (cond_lm, attn_lm), with --load FILE or after --train\n"
        "(docs/attention.md):\n"
        "  --show-attention   per decoder step on validation sentences (teacher forcing):\n"
        "                     [source word/weight, ...], [words fed so far], argmax word\n"
        "  --sentences LIST   which validation sentences, e.g. 1,5,9 (default 1,2,3)\n"
        "  --attention-svg FILE  heat map of the first chosen sentence, as SVG\n"
        "  --translate FILE   decode each line of FILE, one output line per line\n"
        "  --beam K           beam search with K hypotheses (default: greedy)\n"
        "  --ref FILE         with --translate: BLEU against FILE, on stderr\n"
        "  --quiet            no progress bar\n"
        "  --help, --version\n", f);
}

typedef struct Opts {
  const char *file;
  int trace, json, dot, values, no_ops, no_params, gradcheck;
  const char **sets; int nset;
  const char *backprop;
  int max_index;
  TrainOpts to;          /* --train, --resume, ... (to.train) */
} Opts;

/* "--lr 20" style numeric flags: returns 1 if argv[*i] was one. */
static int num_flag(int argc, char **argv, int *i, const char *name, double lo, double hi, double *out, int *bad) {
  if (strcmp(argv[*i], name)) return 0;
  char *end;
  if (*i + 1 >= argc) { fprintf(stderr, "graphrun: error: %s needs a number\n", name); *bad = 1; return 1; }
  double v = strtod(argv[++*i], &end);
  if (*end || end == argv[*i] || !(v >= lo && v <= hi)) {
    fprintf(stderr, "graphrun: error: %s needs a number from %g to %g, got '%s'\n", name, lo, hi, argv[*i]);
    *bad = 1;
  }
  *out = v;
  return 1;
}

static int parse_args(int argc, char **argv, Opts *o) {
  memset(o, 0, sizeof *o);
  train_opts_init(&o->to);
  o->sets = calloc(argc, sizeof *o->sets);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    double v; int bad = 0;
    struct { const char *name; double lo, hi; long *dst; } ints[] = {
      { "--epochs", 0, 1e7, &o->to.epochs }, { "--batch", 1, 65536, &o->to.batch }, { "--bptt", 1, 65536, &o->to.bptt },
      { "--vbatch", 1, 65536, &o->to.vbatch }, { "--patience", 0, 1e7, &o->to.patience }, { "--seed", 0, 2147483647, &o->to.seed },
      { "--threads", 0, 256, &o->to.threads }, { "--generate", 1, 1e6, NULL }, { "--beam", 1, 10000, NULL },
    };
    struct { const char *name; double lo, hi; double *dst; } reals[] = {
      { "--lr", 1e-9, 1e6, &o->to.lr }, { "--clip", 0, 1e9, &o->to.clip }, { "--decay", 1, 1e6, &o->to.decay },
    };
    int hit = 0;
    for (size_t k = 0; k < sizeof ints / sizeof *ints && !hit; k++)
      if ((hit = num_flag(argc, argv, &i, ints[k].name, ints[k].lo, ints[k].hi, &v, &bad))) {
        if (!bad && v != (long)v) { fprintf(stderr, "graphrun: error: %s needs a whole number\n", ints[k].name); bad = 1; }
        if (ints[k].dst) *ints[k].dst = (long)v;
        else if (!strcmp(ints[k].name, "--beam")) o->to.dec.beam = (int)v;
        else o->to.generate = (int)v;
      }
    for (size_t k = 0; k < sizeof reals / sizeof *reals && !hit; k++)
      if ((hit = num_flag(argc, argv, &i, reals[k].name, reals[k].lo, reals[k].hi, reals[k].dst, &bad))) {}
    if (bad) return 2;
    if (hit) continue;
    const char **path = !strcmp(a, "--save") ? &o->to.save : !strcmp(a, "--load") ? &o->to.load :
                        !strcmp(a, "--metrics") ? &o->to.metrics : !strcmp(a, "--checkpoint") ? &o->to.checkpoint :
                        !strcmp(a, "--resume") ? &o->to.resume : !strcmp(a, "--translate") ? &o->to.dec.translate :
                        !strcmp(a, "--ref") ? &o->to.dec.ref : !strcmp(a, "--attention-svg") ? &o->to.dec.svg :
                        !strcmp(a, "--sentences") ? &o->to.dec.sentences : NULL;
    if (path) {
      if (i + 1 >= argc) { fprintf(stderr, "graphrun: error: %s needs %s\n", a, path == &o->to.dec.sentences ? "a list like 1,5,9" : "a file name"); return 2; }
      *path = argv[++i];
      continue;
    }
    if (!strcmp(a, "--train")) o->to.train = 1;
    else if (!strcmp(a, "--eval")) o->to.eval = 1;
    else if (!strcmp(a, "--show-attention")) o->to.dec.show_attention = 1;
    else if (!strcmp(a, "--quiet")) o->to.quiet = 1;
    else if (!strcmp(a, "--trace")) o->trace = 1;
    else if (!strcmp(a, "--json")) o->json = 1;
    else if (!strcmp(a, "--dot")) o->dot = 1;
    else if (!strcmp(a, "--values")) o->values = 1;
    else if (!strcmp(a, "--no-ops")) o->no_ops = 1;
    else if (!strcmp(a, "--no-params")) o->no_params = 1;
    else if (!strcmp(a, "--gradcheck")) o->gradcheck = 1;
    else if (!strcmp(a, "--set") || !strncmp(a, "--set=", 6)) {
      const char *val = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
      if (!val) { fprintf(stderr, "graphrun: error: --set needs NAME=VALUE\n"); return 2; }
      o->sets[o->nset++] = val;
    } else if (!strcmp(a, "--max-index")) {
      if (i + 1 >= argc || atoi(argv[i + 1]) < 1) { fprintf(stderr, "graphrun: error: --max-index needs a whole number of at least 1\n"); return 2; }
      o->max_index = atoi(argv[++i]);
    } else if (!strcmp(a, "--backprop")) {
      if (i + 1 >= argc) { fprintf(stderr, "graphrun: error: --backprop needs a node name\n"); return 2; }
      o->backprop = argv[++i];
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
    else if (!strcmp(a, "--version")) { printf("graphrun %s\n", GR_VERSION); exit(0); }
    else if (a[0] == '-' && a[1]) { fprintf(stderr, "graphrun: error: unknown option '%s' (see graphrun --help)\n", a); return 2; }
    else if (o->file) { fprintf(stderr, "graphrun: error: one model file at a time ('%s' and '%s')\n", o->file, a); return 2; }
    else o->file = a;
  }
  if (!o->file) { usage(stderr); return 2; }
  if ((o->values || o->no_ops || o->no_params || o->max_index) && !o->dot) {
    fprintf(stderr, "graphrun: error: --values, --no-ops, --no-params and --max-index go with --dot\n");
    return 2;
  }
  const DecodeOpts *d = &o->to.dec;
  const char *lone = d->ref && !d->translate ? "--ref goes with --translate" :
                     d->beam && !d->translate ? "--beam goes with --translate" :
                     d->sentences && !d->show_attention && !d->svg ? "--sentences goes with --show-attention or --attention-svg" : NULL;
  if (lone) { fprintf(stderr, "graphrun: error: %s\n", lone); return 2; }
  return 0;
}

static int run_model(Opts *o) {
  Err e = {0};
  Model *m = model_load(o->file, &e);
  int rc = 1;
  if (!m) goto fail;
  for (int i = 0; i < o->nset; i++) if (model_set(m, o->sets[i], &e)) goto fail;
  if (o->to.resume) o->to.train = 1;
  if (o->to.train || o->to.eval || o->to.generate || (o->gradcheck && m->data) || decode_wanted(&o->to.dec)) {
    o->to.gradcheck = o->gradcheck;
    if (o->to.eval && !o->to.load && !o->to.train) fprintf(stderr, "graphrun: note: --eval without --load evaluates the initial (untrained) model\n");
    if (train_main(m, &o->to, &e)) goto fail;
    model_free(m);
    return 0;
  }
  if (m->data && o->dot && !o->values) {      /* the graph of a sequence model, blocks as one node */
    DotOpts d = { 0, o->no_ops, o->no_params, o->max_index };
    dot_print(stdout, m, &d, 0);
    model_free(m);
    return 0;
  }
  if (m->data) {
    err_at(&e, m->data->loc, "this is a sequence model: run it with --train (or --eval/--generate with --load, or --dot)");
    goto fail;
  }
  if (!m->g->nout) { err_at(&e, (Loc){ m->path, 0, 0 }, "no 'output' statement: name the result, e.g. 'output z5'"); goto fail; }
  Node *out = NULL;                 /* the scalar backprop starts from */
  if (o->backprop) {
    out = graph_find(m->g, o->backprop);
    if (!out) { err_set(&e, "--backprop %s: error: no node named '%s' in %s", o->backprop, o->backprop, m->path); goto fail; }
  } else {
    for (int i = 0; i < m->g->nout; i++) if (m->g->outputs[i]->val.rank == 0) out = m->g->outputs[i];
    if (!out) out = m->g->outputs[m->g->nout - 1];
  }
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  if (graph_forward(m->g, &ex)) goto fail;
  /* backprop runs when someone will look at gradients and the output is a scalar */
  int want_grads = o->trace || o->json || o->gradcheck || (o->dot && o->values);
  int have_grads = 0;
  if (want_grads && out->val.rank == 0) {
    if (graph_backward(m->g, out, &ex)) goto fail;
    have_grads = 1;
  }
  if (o->gradcheck) {
    if (!have_grads) {
      char s[64];
      err_at(&e, out->loc, "--gradcheck needs a scalar output, '%s' is %s (write e.g. 'loss = sum(%s)' and 'output loss')",
             out->label, shape_str(&out->val, s, sizeof s), out->label);
      goto fail;
    }
    int bad = gradcheck(stdout, m, out, 1e-2, &e);
    if (bad < 0) goto fail;
    rc = bad ? 1 : 0;
    model_free(m);
    return rc;
  }
  if (o->dot) {
    DotOpts d = { o->values || o->trace, o->no_ops, o->no_params, o->max_index };
    dot_print(stdout, m, &d, have_grads);
  } else if (o->json) {
    json_print(stdout, m, have_grads);
  } else if (o->trace) {
    trace_print(stdout, m, out, have_grads);
    if (!have_grads)
      printf("\n(no backward pass: '%s' is not a scalar; write e.g. 'loss = sum(%s)' and 'output loss')\n", out->label, out->label);
  } else {
    for (int i = 0; i < m->g->nout; i++) {
      printf("%s = ", m->g->outputs[i]->label);
      tensor_fprint(&m->g->outputs[i]->val, stdout);
      putchar('\n');
    }
  }
  model_free(m);
  return 0;
fail:
  fprintf(stderr, "%s\n", e.msg[0] ? e.msg : "graphrun: error: failed");
  model_free(m);
  return 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "bleu")) return bleu_main(argc - 1, argv + 1);
  Opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc == 0) rc = run_model(&o);
  free(o.sets);
  return rc;
}
