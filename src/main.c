/*
** main.c — the command line.
**
**   graphrun FILE [flags]              run, trace, draw, check, train, decode
**   graphrun bleu HYP REF [REF...]     corpus BLEU (bleu.c)
**   graphrun plot M.csv [...] -o F.svg  training curves (plot.c)
**
** Every flag is one row of `flags[]` below: its kind (a switch, a number in
** a range, a file to read or to write, a repeatable value), where its value
** goes, the flags it goes with and the kinds of model it applies to.  The
** rows are the whole truth: parsing, --help, and every check before a model
** is even read come from them, so a flag that does not apply, two that
** conflict, or an output file that cannot be written stop the run at once
** (exit 2) with a message naming them.  Adding a flag is adding a row (and
** reading its value where it is used).
**
** Some rows are *modes*: what the run does (--trace, --train, --translate,
** ...; none given is a plain run, the pseudo-row "run").  A mode row marked
** `out` writes data on stdout; one run writes one kind of data, so two such
** modes conflict.  Messages (the training log, warnings, notes, BLEU) go to
** stderr, always.
**
** Exit status: 0 success, 1 a bad model/data/result, 2 a bad command line.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include "par.h"
#include "show.h"
#include "train.h"
#include "decode.h"
#include "sample.h"
#include "bleu.h"
#include "dist.h"
#include "plot.h"
#include "blas.h"

#define GR_VERSION "0.1.0"

/* The version, and the BLAS that training would run on (one thread per core). */
static void version(void) {
  char b[512];
  int cores = par_cores();
  blas_describe(b, sizeof b, cores < PAR_MAX ? cores : PAR_MAX);
  printf("graphrun %s\nblas: %s\n", GR_VERSION, b);
}

typedef struct StrList { const char **v; int n; } StrList;

/* Everything the command line can set. */
typedef struct Opts {
  const char *file;
  int trace, json, dot, values, no_ops, no_params, gradcheck;
  int train;
  const char *eval, *src;
  long max_index;
  StrList sets;
  const char *backprop;
  const char *svg, *png, *html;   /* drawings rendered in-process (render.c, html.c) */
  TrainOpts to;          /* training settings and files (train.h) */
  DecodeOpts dec;        /* --show-attention, --translate, ... (decode.h) */
  SampleOpts smp;        /* --generate, --temperature, ... (sample.h) */
} Opts;

/* ---- the flag table ------------------------------------------------------- */

enum FlagKind {
  F_SWITCH,   /* no value: sets an int to 1                       */
  F_INT,      /* a whole number in [lo, hi], into a long           */
  F_REAL,     /* a number in [lo, hi], into a double               */
  F_WORD,     /* a string (a node name, a list like 1,5,9)         */
  F_IN,       /* a file to read: must be readable                  */
  F_OUT,      /* a file to write: its directory must be writable   */
  F_LIST,     /* repeatable string, into a StrList                 */
  F_HELP, F_VERSION,
};
/* Kinds of model a flag applies to (K_TFM: a language model with a
** transformer block, whose attention --show-attention shows). */
enum { K_PLAIN = 1, K_RNN_LM = 2, K_TRANS = 4, K_TFM = 8, K_LM = K_RNN_LM | K_TFM, K_SEQ = K_LM | K_TRANS, K_ANY = 15 };

typedef struct Flag {
  const char *name;       /* "--epochs"; NULL: a heading in --help; "run": the plain run */
  enum FlagKind kind;
  size_t off;             /* destination in Opts */
  double lo, hi;          /* F_INT, F_REAL: accepted range */
  int mode;               /* a mode: what the run does */
  int out;                /* (mode) writes data on stdout */
  const char *with;       /* modes it goes with, e.g. "--train --resume"; NULL: any */
  const char *without;    /* modes it cannot go with */
  int models;             /* K_...: the models it applies to */
  const char *arg;        /* the value in --help: "N", "FILE" */
  const char *help;
} Flag;

#define O(field) offsetof(Opts, field)
#define SEQ_USES "--eval --generate --translate --show-attention --attention-svg"   /* of a trained model */
#define DRAWINGS "--dot --svg --png --html"
#define GRAPH_VIEWS "--trace --json --gradcheck " DRAWINGS
#define STEP_VIEWS "--trace --json --gradcheck --html"   /* of a sequence model: its first training step */

static const Flag flags[] = {
  { NULL, .help = "options for FILE (a model without a 'data' statement):" },
  { "run", F_SWITCH, 0, .mode = 1, .out = 1, .models = K_PLAIN, .help = "(no mode flag) print every output" },
  { "--trace", F_SWITCH, O(trace), .mode = 1, .out = 1, .without = "--train --resume", .models = K_ANY,
    .help = "forward pass and backprop, step by step (a sequence model: its first training step, at a toy size)" },
  { "--json", F_SWITCH, O(json), .mode = 1, .out = 1, .without = "--train --resume", .models = K_ANY,
    .help = "values, gradients and shapes of every named node, as JSON (a sequence model: on its first training piece)" },
  { "--dot", F_SWITCH, O(dot), .mode = 1, .out = 1, .without = "--train --resume", .models = K_ANY,
    .help = "Graphviz drawing on stdout (render: dot -Tsvg); a sequence model with each block as one node" },
  { "--svg", F_OUT, O(svg), .mode = 1, .without = "--train --resume", .models = K_ANY, .arg = "FILE",
    .help = "the drawing rendered by Graphviz's library, as SVG" },
  { "--png", F_OUT, O(png), .mode = 1, .without = "--train --resume", .models = K_ANY, .arg = "FILE",
    .help = "the same as PNG" },
  { "--html", F_OUT, O(html), .mode = 1, .without = "--train --resume " SEQ_USES, .models = K_ANY, .arg = "FILE",
    .help = "a self-contained web page that steps through --trace on the drawing (#step=N in its URL)" },
  { "--values", F_SWITCH, O(values), .mode = 1, .with = "--dot --svg --png", .models = K_PLAIN,
    .help = "value and gradient in every box" },
  { "--no-ops", F_SWITCH, O(no_ops), .with = DRAWINGS, .models = K_ANY, .help = "edges straight between values, no op circles" },
  { "--no-params", F_SWITCH, O(no_params), .with = DRAWINGS, .models = K_ANY, .help = "leave the parameters (weights) out" },
  { "--max-index", F_INT, O(max_index), 1, 1e9, .with = DRAWINGS, .models = K_ANY, .arg = "K",
    .help = "leave out names with an index above K" },
  { "--gradcheck", F_SWITCH, O(gradcheck), .mode = 1, .out = 1, .without = "--train --resume", .models = K_ANY,
    .help = "compare gradients with central finite differences (a sequence model: on its first training piece)" },
  { "--set", F_LIST, O(sets), .with = "run " GRAPH_VIEWS, .models = K_ANY, .arg = "NAME=VALUE",
    .help = "override a const (the graph is built from it: --set d=4), an input or a param (repeatable: --set x=2); "
             "a sequence model takes consts only" },
  { "--backprop", F_WORD, O(backprop), .with = "--trace --json --gradcheck --values --html", .models = K_PLAIN, .arg = "NAME",
    .help = "the scalar output to differentiate (default: the only scalar output, or the last one)" },

  { NULL, .help = "sequence models (a file with data/block/train statements); --epochs to --threads override\nthe file's train settings:" },
  { "--train", F_SWITCH, O(train), .mode = 1, .models = K_SEQ, .help = "train; the log (one line per epoch) on stderr" },
  { "--resume", F_IN, O(to.resume), .mode = 1, .models = K_SEQ, .arg = "FILE",
    .help = "go on training from a --checkpoint file" },
  { "--epochs", F_INT, O(to.epochs), 0, 1e7, .with = "--train --resume", .models = K_SEQ, .arg = "N", .help = "epochs" },
  { "--lr", F_REAL, O(to.lr), 1e-9, 1e6, .with = "--train", .without = "--resume", .models = K_SEQ, .arg = "X", .help = "learning rate" },
  { "--batch", F_INT, O(to.batch), 1, 65536, .with = "--train --resume " STEP_VIEWS, .models = K_SEQ, .arg = "N", .help = "batch size" },
  { "--bptt", F_INT, O(to.bptt), 1, 65536, .with = "--train --resume --eval " STEP_VIEWS, .models = K_SEQ, .arg = "N",
    .help = "steps per piece" },
  { "--clip", F_REAL, O(to.clip), 0, 1e9, .with = "--train --resume", .models = K_SEQ, .arg = "X", .help = "gradient norm clip" },
  { "--decay", F_REAL, O(to.decay), 1, 1e6, .with = "--train --resume", .models = K_SEQ, .arg = "X",
    .help = "lr divisor after an epoch without a new best" },
  { "--seed", F_INT, O(to.seed), 0, 2147483647, .with = "--train " STEP_VIEWS " " SEQ_USES, .models = K_SEQ,
    .arg = "N", .help = "initial values, dropout, bundle order, --generate's sampling (with --load: all but the first)" },
  { "--vbatch", F_INT, O(to.vbatch), 1, 65536, .with = "--train --resume --eval", .models = K_SEQ, .arg = "N",
    .help = "validation batch size" },
  { "--patience", F_INT, O(to.patience), 0, 1e7, .with = "--train --resume", .models = K_SEQ, .arg = "N",
    .help = "stop after N epochs without a new best" },
  { "--threads", F_INT, O(to.threads), 0, 256, .with = "--train --resume " STEP_VIEWS " " SEQ_USES, .models = K_SEQ, .arg = "N",
    .help = "threads (0: one per core it may run on)" },
  { "--replicas", F_INT, O(to.replicas), 0, 256, .with = "--train --resume", .models = K_SEQ, .arg = "N",
    .help = "copies of the model, each training on its block of every batch on its own thread (0: one per thread; 1: none)" },
  { "--save", F_OUT, O(to.save), .with = "--train --resume", .models = K_SEQ, .arg = "FILE",
    .help = "keep the best model (atomic write)" },
  { "--checkpoint", F_OUT, O(to.checkpoint), .with = "--train --resume", .models = K_SEQ, .arg = "FILE",
    .help = "after every epoch, the model and the training state" },
  { "--metrics", F_OUT, O(to.metrics), .with = "--train --resume", .models = K_SEQ, .arg = "FILE",
    .help = "CSV: epoch,train_ppl,valid_ppl,lr,seconds,tokens_per_s" },
  { "--plot", F_OUT, O(to.plot), .with = "--train --resume", .models = K_SEQ, .arg = "FILE.svg",
    .help = "train and valid perplexity per epoch (log scale, lr drops marked), as SVG" },
  { "--quiet", F_SWITCH, O(to.quiet), .with = "--train --resume", .models = K_SEQ, .help = "no progress bar" },
  { "--load", F_IN, O(to.load), .with = "--train " STEP_VIEWS " " SEQ_USES, .without = "--resume", .models = K_SEQ,
    .arg = "FILE", .help = "start from a saved model" },
  { "--eval", F_IN, O(eval), .mode = 1, .out = 1, .models = K_SEQ, .arg = "FILE",
    .help = "perplexity on a text file, one sentence per line (e.g. data/valid.txt)" },
  { "--src", F_IN, O(src), .with = "--eval", .models = K_TRANS, .arg = "FILE",
    .help = "a translation model's source sentences for --eval's FILE, line by line" },
  { "--generate", F_INT, O(smp.count), 1, 1e6, .mode = 1, .out = 1, .models = K_SEQ, .arg = "N",
    .help = "sample N sentences (a translation model: N for each source sentence of --sentences)" },
  { "--temperature", F_REAL, O(smp.temperature), 1e-3, 1e3, .with = "--generate", .models = K_SEQ, .arg = "T",
    .help = "sample from softmax(logits / T) (default 1)" },
  { "--top-k", F_INT, O(smp.top_k), 1, 1e7, .with = "--generate", .models = K_SEQ, .arg = "K",
    .help = "sample from the K most probable words only (default: all)" },
  { "--max-len", F_INT, O(smp.max_len), 1, 1e6, .with = "--generate", .models = K_SEQ, .arg = "N",
    .help = "end a sample after N words if no <eos> came (default 100; a note on stderr says so)" },
  { "--prompt", F_WORD, O(smp.prompt), .with = "--generate", .models = K_SEQ, .arg = "\"WORDS\"",
    .help = "every sample starts with these words" },

  { NULL, .help = "translation models (cond_lm, attn_lm; --show-attention also transformer LMs), with --load FILE or after\n--train (docs/attention.md):" },
  { "--show-attention", F_SWITCH, O(dec.show_attention), .mode = 1, .out = 1, .models = K_TRANS | K_TFM,
    .help = "per decoder step on validation sentences (teacher forcing): [source word/weight, ...], [words fed so far], argmax word; "
            "for a transformer LM (docs/transformer.md): per step and layer, the word each head attends to most" },
  { "--attention-svg", F_OUT, O(dec.svg), .mode = 1, .models = K_TRANS, .arg = "FILE",
    .help = "heat map of the first chosen sentence, as SVG" },
  { "--sentences", F_WORD, O(dec.sentences), .with = "--show-attention --attention-svg --generate", .models = K_TRANS | K_TFM, .arg = "LIST",
    .help = "which validation sentences, e.g. 1,5,9 (default 1,2,3)" },
  { "--translate", F_IN, O(dec.translate), .mode = 1, .out = 1, .models = K_TRANS, .arg = "FILE",
    .help = "decode each line of FILE, one output line per line" },
  { "--beam", F_INT, O(dec.beam), 1, 10000, .with = "--translate", .models = K_TRANS, .arg = "K",
    .help = "beam search with K hypotheses (default: greedy)" },
  { "--ref", F_IN, O(dec.ref), .with = "--translate", .models = K_TRANS, .arg = "FILE", .help = "BLEU against FILE, on stderr" },

  { NULL, .help = "" },
  { "--help", F_HELP, .help = "this text" },
  { "--version", F_VERSION, .help = "the version, and the BLAS kernel and threads training runs on" },
};
enum { NFLAGS = sizeof flags / sizeof *flags };

static const Flag *flag_find(const char *name, size_t len) {
  for (int i = 0; i < NFLAGS; i++)
    if (flags[i].name && strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len)) return &flags[i];
  return NULL;
}

/* A row's mode list ("--train --resume") as a bit set over the rows. */
typedef uint64_t Set;
static Set set_of(const char *list) {
  Set s = 0;
  for (const char *p = list; p && *p; ) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " ");
    if (!n) break;
    const Flag *f = flag_find(p, n);
    if (!f || !f->mode) { fprintf(stderr, "graphrun: internal error: '%.*s' in the flag table is not a mode\n", (int)n, p); exit(70); }
    s |= (Set)1 << (f - flags);
    p += n;
  }
  return s;
}

/* "--train or --resume", "a plain run, --trace or --json" */
static void say_modes(char *buf, size_t cap, Set s) {
  int total = 0, j = 0;
  size_t k = 0;
  for (int i = 0; i < NFLAGS; i++) total += (int)(s >> i & 1);
  buf[0] = 0;
  for (int i = 0; i < NFLAGS && k < cap; i++) {
    if (!(s >> i & 1)) continue;
    const char *sep = !j ? "" : j == total - 1 ? " or " : ", ";
    j++;
    k += (size_t)snprintf(buf + k, cap - k, "%s%s", sep, strcmp(flags[i].name, "run") ? flags[i].name : "a plain run");
  }
}

static const char *kind_words(int k) {
  return k == K_PLAIN ? "models without a 'data' statement" : k == K_SEQ ? "sequence models (a file with a 'data' statement)" :
         k == K_LM ? "language models (a 'data' statement without src_train, as models/lm.g)" :
         k == K_TRANS ? "translation models (a 'data' statement with src_train, as models/cond_lm.g and models/attn_lm.g)" :
         k == (K_TRANS | K_TFM) ? "translation models and transformer language models (models/attn_lm.g, models/transformer_lm.g)" : "any model";
}

/* --help: the rows in order, each help text wrapped at 79 columns. */
static void usage(FILE *f) {
  fputs("usage: graphrun FILE [options]        run a model file\n"
        "       graphrun bleu HYP REF [REF...]  corpus BLEU of a hypothesis file\n"
        "       graphrun plot M.csv [M2.csv...] -o FILE.svg  perplexity curves of --metrics files\n", f);
  for (int i = 0; i < NFLAGS; i++) {
    const Flag *r = &flags[i];
    if (!r->name) { fprintf(f, "\n%s%s", r->help, *r->help ? "\n" : ""); continue; }
    if (!strcmp(r->name, "run")) continue;
    char head[64], text[800], w[400] = "";
    snprintf(head, sizeof head, "%s%s%s", r->name, r->arg ? " " : "", r->arg ? r->arg : "");
    if (r->with) say_modes(w, sizeof w, set_of(r->with));
    snprintf(text, sizeof text, "%s%s%s%s", r->help, *w ? " [with " : "", w, *w ? "]" : "");
    fprintf(f, "  %-20s", head);
    int col = 22;
    for (const char *p = text; *p; ) {
      size_t n = strcspn(p, " ");
      if (col + 1 + (int)n > 79 && col > 22) { fprintf(f, "\n%22s", ""); col = 22; }
      fprintf(f, " %.*s", (int)n, p);
      col += 1 + (int)n;
      p += n;
      while (*p == ' ') p++;
    }
    fputc('\n', f);
  }
}

/* Reads argv into o by the table; checks values, repeats and which flags
** go together.  0, 2 with a message, or ARGS_ANSWERED after printing --help
** or --version (the run is then over, successfully). */
#define ARGS_ANSWERED (-1)
static int parse_args(int argc, char **argv, Opts *o, int given[NFLAGS]) {
  for (int k = 0; k < NFLAGS; k++) { set_of(flags[k].with); set_of(flags[k].without); }   /* a typo in the table stops every run */
  memset(o, 0, sizeof *o);
  train_opts_init(&o->to);
  o->sets.v = xcalloc((size_t)argc, sizeof *o->sets.v);
  char *base = (char *)o;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1]) {
      if (o->file) { fprintf(stderr, "graphrun: error: one model file at a time ('%s' and '%s')\n", o->file, a); return 2; }
      o->file = a;
      continue;
    }
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;    /* --name=value */
    const Flag *r = flag_find(a, eq ? (size_t)(eq - a) : strlen(a));
    if (!r && !strcmp(a, "-h")) r = flag_find("--help", 6);
    if (!r || r->name[0] != '-') { fprintf(stderr, "graphrun: error: unknown option '%s' (see graphrun --help)\n", a); return 2; }
    int k = (int)(r - flags);
    if (r->kind == F_HELP) { usage(stdout); return ARGS_ANSWERED; }
    if (r->kind == F_VERSION) { version(); return ARGS_ANSWERED; }
    if (given[k] && r->kind != F_LIST) { fprintf(stderr, "graphrun: error: %s given twice\n", r->name); return 2; }
    given[k] = i;
    if (r->kind == F_SWITCH) {
      if (eq) { fprintf(stderr, "graphrun: error: %s takes no value\n", r->name); return 2; }
      *(int *)(base + r->off) = 1;
      continue;
    }
    const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      fprintf(stderr, "graphrun: error: %s needs %s\n", r->name,
              r->kind == F_INT || r->kind == F_REAL ? "a number" : r->kind == F_IN || r->kind == F_OUT ? "a file name" : r->arg);
      return 2;
    }
    if (r->kind == F_INT || r->kind == F_REAL) {
      char *end;
      double x = strtod(v, &end);
      if (*end || end == v || !(x >= r->lo && x <= r->hi)) {
        fprintf(stderr, "graphrun: error: %s needs a number from %g to %g, got '%s'\n", r->name, r->lo, r->hi, v);
        return 2;
      }
      if (r->kind == F_REAL) { *(double *)(base + r->off) = x; continue; }
      if (x != (long)x) { fprintf(stderr, "graphrun: error: %s needs a whole number, got '%s'\n", r->name, v); return 2; }
      *(long *)(base + r->off) = (long)x;
    } else if (r->kind == F_LIST) {
      StrList *l = (StrList *)(base + r->off);
      l->v[l->n++] = v;
    } else {
      if (!*v || (!eq && v[0] == '-' && v[1] == '-')) {    /* "--eval --load x": not a file named --load */
        fprintf(stderr, "graphrun: error: %s needs %s, got '%s'\n", r->name, r->arg, v);
        return 2;
      }
      *(const char **)(base + r->off) = v;
    }
  }
  if (!o->file) { usage(stderr); return 2; }

  /* the modes of this run; none: a plain run */
  Set modes = 0;
  int out1 = -1;
  for (int k = 0; k < NFLAGS; k++) {
    if (!given[k] || !flags[k].mode) continue;
    modes |= (Set)1 << k;
    if (!flags[k].out) continue;
    if (out1 >= 0) {
      fprintf(stderr, "graphrun: error: %s and %s both write to standard output: give one of them per run\n", flags[out1].name, flags[k].name);
      return 2;
    }
    out1 = k;
  }
  if (!modes) { modes = set_of("run"); given[flag_find("run", 3) - flags] = -1; }
  for (int k = 0; k < NFLAGS; k++) {
    if (!given[k]) continue;
    const Flag *r = &flags[k];
    char w[400];
    Set with = set_of(r->with), without = set_of(r->without);
    if (modes & without) {
      say_modes(w, sizeof w, modes & without);
      fprintf(stderr, "graphrun: error: %s does not go with %s\n", r->name, w);
      return 2;
    }
    if (r->with && !(modes & with)) {
      say_modes(w, sizeof w, with);
      fprintf(stderr, "graphrun: error: %s goes with %s\n", r->name, w);
      return 2;
    }
  }
  /* --load replaces the initial values, so the seed is left with dropout,
  ** bundle order and sampling: modes that have none cannot use it */
  if (given[flag_find("--seed", 6) - flags] && given[flag_find("--load", 6) - flags] &&
      !(modes & set_of("--train " STEP_VIEWS " --generate"))) {
    fprintf(stderr, "graphrun: error: --seed with --load goes with --train, --generate or a step view (%s): "
                    "the values come from %s, and nothing else draws random numbers\n", STEP_VIEWS, o->to.load);
    return 2;
  }
  return 0;
}

/* The files of the command line: those to read exist, those to write can
** be written (nothing is left behind).  0, or 2 with a message. */
static int check_files(Opts *o, const int given[NFLAGS]) {
  char *base = (char *)o;
  for (int k = 0; k < NFLAGS; k++) {
    const Flag *r = &flags[k];
    if (given[k] <= 0 || (r->kind != F_IN && r->kind != F_OUT)) continue;
    const char *path = *(const char **)(base + r->off);
    Err e = {0};
    if (r->kind == F_IN ? access(path, R_OK) != 0 : file_check_writable(path, &e) != 0) {
      if (r->kind == F_IN) fprintf(stderr, "%s %s: error: cannot read: %s\n", r->name, path, strerror(errno));
      else fprintf(stderr, "%s %s\n", r->name, e.msg);
      return 2;
    }
  }
  return 0;
}

/* Under mpirun every process reads the same command line, so process 0
** alone reports its mistakes; the files each process checks itself, as
** they may differ from machine to machine. */
static int parse_once(int argc, char **argv, Opts *o, int given[NFLAGS]) {
  int fd = -1;
  if (dist_rank() > 0 && (fd = dup(2)) >= 0) {
    int nul = open("/dev/null", O_WRONLY);
    if (nul >= 0) { dup2(nul, 2); close(nul); }
  }
  int rc = parse_args(argc, argv, o, given);
  if (fd >= 0) { fflush(stderr); dup2(fd, 2); close(fd); }
  return rc ? rc : check_files(o, given);
}

/* After the model is read: every flag given applies to its kind.  0, or
** the exit status with a message on stderr. */
static int check_model_kind(const Model *m, const Opts *o, const int given[NFLAGS]) {
  int kind = !m->data ? K_PLAIN : m->data->translation ? K_TRANS : K_RNN_LM;
  for (int i = 0; kind == K_RNN_LM && i < m->g->n; i++) if (m->g->nodes[i]->op == OP_TRANSFORMER) kind = K_TFM;
  if (kind == K_TRANS && o->eval && !o->src) {
    fprintf(stderr, "graphrun: error: --eval on a translation model needs --src FILE, the source sentences of %s line by line\n", o->eval);
    return 2;
  }
  if (kind == K_TFM && o->dec.sentences && !o->dec.show_attention) {   /* a language model samples from nothing */
    fprintf(stderr, "graphrun: error: --sentences on a language model goes with --show-attention; --generate on %s samples from the model alone\n", m->path);
    return 2;
  }
  for (int k = 0; k < NFLAGS; k++) {
    const Flag *r = &flags[k];
    if (!given[k] || (r->models & kind)) continue;
    if (!strcmp(r->name, "run")) {
      Err e = {0};
      err_at(&e, m->data->loc, "this is a sequence model: run it with --train (or --eval, --generate, --translate with --load; or --dot)");
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    fprintf(stderr, "graphrun: error: %s applies to %s; %s is %s\n", r->name, kind_words(r->models), m->path,
            kind == K_PLAIN ? "not one (it has no 'data' statement)" : kind & K_LM ? "a language model" : "a translation model");
    return 2;
  }
  return 0;
}

/* ---- the runs ------------------------------------------------------------------ */

/* A sequence model: its drawing, or setup and then what the modes ask
** for, in this order: gradient check, training, evaluation, sampling,
** decoding. */
static int run_sequence(Model *m, Opts *o, Err *e) {
  int trained = o->train || o->to.resume;
  if (dist_size() > 1) {    /* under mpirun: training and evaluation (docs/distributed.md) */
    const char *one = o->dot ? "--dot" : o->svg ? "--svg" : o->png ? "--png" : o->html ? "--html" : o->trace ? "--trace" : o->json ? "--json" : o->gradcheck ? "--gradcheck" : o->smp.count ? "--generate" :
                      !trained && decode_wanted(&o->dec) ? "decoding without --train" : NULL;
    if (one) {
      fprintf(stderr, "graphrun: error: %s runs in one process: start it without mpirun (mpirun runs --train, --resume and --eval)\n", one);
      return 2;
    }
  }
  DotOpts d = { 0, o->no_ops, o->no_params, (int)o->max_index };   /* the graph as written, blocks as one node */
  if (o->dot) dot_print(stdout, m, &d, 0);
  if ((o->svg && render_file(m, &d, 0, "svg", o->svg, e)) || (o->png && render_file(m, &d, 0, "png", o->png, e))) return -1;
  int more = o->html || o->trace || o->json || o->gradcheck || trained || o->eval || o->smp.count ||
             decode_wanted(&o->dec);
  if ((o->dot || o->svg || o->png) && !more) return 0;     /* only the drawing: no setup */
  char *dot = o->html ? dot_text(m, &d, 0) : NULL;    /* drawn before train_setup fuses the output layer */
  TrainCfg c;
  int rc = train_setup(m, &o->to, &c, e) ? -1 : 0;
  if (!rc && o->html) {
    /* --json and --gradcheck leave the parameters as they were, so the page
    ** shows the same step; --trace prints the page's own lines (its step
    ** ends with an SGD update, which a second trace would start from) */
    rc = o->json ? trace_seq(stdout, m, &c, 1, e) : o->gradcheck ? train_gradcheck(m, &c, e) : 0;
    if (rc >= 0 && html_write(o->html, m, dot, NULL, 0, &c, o->trace ? stdout : NULL, e)) rc = -1;
  }
  free(dot);
  if (rc || o->html) return rc;
  if (o->trace || o->json) return trace_seq(stdout, m, &c, o->json, e);
  if (o->gradcheck) return train_gradcheck(m, &c, e);
  if (trained && train_run(m, &o->to, &c, e)) return -1;
  if (!trained && !o->to.load && dist_lead())
    fprintf(stderr, "graphrun: warning: no --load: using the untrained model (initial values from seed %lu)\n", c.seed);
  if (o->eval && train_eval(m, &c, o->eval, o->src, e)) return -1;
  if (o->smp.count && dist_lead()) {               /* process 0 samples */
    o->smp.sentences = o->dec.sentences;
    o->smp.seed = c.seed;
    if (sample_main(m, &o->smp, e)) return -1;
  }
  return decode_wanted(&o->dec) && dist_lead() ? decode_main(m, &o->dec, e) : 0;   /* process 0 decodes */
}

/* A model without data: forward (and backward when gradients are shown). */
static int run_graph(Model *m, Opts *o, Err *e) {
  if (!m->g->nout) return err_at(e, (Loc){ m->path, 0, 0 }, "no 'output' statement: name the result, e.g. 'output z5'");
  Node *out = NULL;                 /* the scalar backprop starts from */
  if (o->backprop) {
    out = graph_find(m->g, o->backprop);
    if (!out) return err_set(e, "--backprop %s: error: no node named '%s' in %s", o->backprop, o->backprop, m->path);
  } else {
    for (int i = 0; i < m->g->nout; i++) if (m->g->outputs[i]->val.rank == 0) out = m->g->outputs[i];
    if (!out) out = m->g->outputs[m->g->nout - 1];
  }
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = e;
  if (graph_forward(m->g, &ex)) return -1;
  /* backprop runs when someone will look at gradients and the output is a scalar */
  int want_grads = o->trace || o->json || o->gradcheck || o->values || o->html;
  int have_grads = 0;
  if (want_grads && out->val.rank == 0) {
    if (graph_backward(m->g, out, &ex)) return -1;
    have_grads = 1;
  }
  if (o->gradcheck) {
    if (!have_grads) {
      char s[64];
      return err_at(e, out->loc, "--gradcheck needs a scalar output, '%s' is %s (write e.g. 'loss = sum(%s)' and 'output loss')",
                    out->label, shape_str(&out->val, s, sizeof s), out->label);
    }
    int bad = gradcheck(stdout, m, out, GRADCHECK_TOL, e);
    return bad < 0 ? -1 : bad ? 1 : 0;
  }
  DotOpts d = { o->values, o->no_ops, o->no_params, (int)o->max_index };
  if ((o->svg && render_file(m, &d, have_grads, "svg", o->svg, e)) ||
      (o->png && render_file(m, &d, have_grads, "png", o->png, e))) return -1;
  if (o->html) {                    /* the page's drawing always shows values */
    DotOpts dv = d;
    dv.values = 1;
    char *dot = dot_text(m, &dv, have_grads);
    int rc = html_write(o->html, m, dot, out, have_grads, NULL, NULL, e);
    free(dot);
    if (rc) return rc;
  }
  if (o->dot) {
    dot_print(stdout, m, &d, have_grads);
  } else if (o->json) {
    json_print(stdout, m, have_grads);
  } else if (o->trace) {
    trace_print(stdout, m, out, have_grads);
    if (!have_grads)
      printf("\n(no backward pass: '%s' is not a scalar; write e.g. 'loss = sum(%s)' and 'output loss')\n", out->label, out->label);
  } else if (!o->svg && !o->png && !o->html) {
    for (int i = 0; i < m->g->nout; i++) {
      printf("%s = ", m->g->outputs[i]->label);
      tensor_fprint(&m->g->outputs[i]->val, stdout);
      putchar('\n');
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  blas_startup(argv);               /* may re-execute graphrun once (blas.h) */
  if (argc >= 2 && !strcmp(argv[1], "bleu")) return bleu_main(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "plot")) return plot_main(argc - 1, argv + 1);
  Opts o;
  int given[NFLAGS] = {0};
  int rc = parse_once(argc, argv, &o, given);
  if (rc == ARGS_ANSWERED) rc = 0;
  else if (rc == 0) {
    Err e = {0};
    Model *m = model_load_set(o.file, o.sets.v, o.sets.n, &e);    /* --set: consts rebuild the graph */
    o.to.sets = (const char *const *)o.sets.v; o.to.nset = o.sets.n;
    if (!m) rc = -1;
    else if (!(rc = check_model_kind(m, &o, given))) rc = m->data ? run_sequence(m, &o, &e) : run_graph(m, &o, &e);
    if (rc < 0) { fprintf(stderr, "%s\n", e.msg[0] ? e.msg : "graphrun: error: failed"); rc = 1; }
    else if (rc == 0) dist_end();    /* leaves the mpirun job; on failure mpirun ends it */
    model_free(m);
  }
  free(o.sets.v);
  return rc;
}
