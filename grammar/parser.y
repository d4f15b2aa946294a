/*
** parser.y — the grammar of graphrun model files (bison, pure, reentrant).
**
** A file is a list of statements, one per line:
**   const H = 2                          constants (numbers, used in shapes,
**                                        literals, ranges and indices)
**   input x: [2] = [1, 1]                declarations: shape optional when a
**   param E: [V, d] ~ uniform(-0.1, 0.1) literal gives it; `~` draws randomly
**   z = relu(W @ x + b)                  one node per operation
**   for h in 1..H, t in 1..T { ... }     loops unroll into indexed names q[h,t]
**   output z5                            what `graphrun FILE` prints
**   block dec = lstm(in=d, hidden=d)     fused blocks
**   data train = "f.txt" / train sgd(lr=20), batch=20     settings
** The parser only builds the syntax tree (ast.h); meaning is the builder's.
*/
%define api.pure full
%define parse.error detailed
%locations
%param {yyscan_t scanner}
%parse-param {struct ParseCtx *ctx}

%code requires {
#include "ast.h"
typedef void *yyscan_t;
typedef struct ParseCtx {
  const char *file;
  Err *err;
  Ast *root;
  int depth;                 /* open ( and [ : newlines inside are spaces */
  int open_line[64], open_col[64]; char open_ch[64];
  int line, col;             /* lexer position */
  int eof_nl;                /* the final newline was sent */
  int after_comma;           /* the last token was ',': a newline continues */
  int comment_line, comment_col;
  int expr_only;             /* parse_expr_string: the input is one expression */
} ParseCtx;
}

%code {
#include <stdlib.h>
#include <string.h>
#include "lexer.h"
static void yyerror(YYLTYPE *l, yyscan_t sc, ParseCtx *ctx, const char *msg);
static Loc L(YYLTYPE l, ParseCtx *ctx) { Loc r = { ctx->file, l.first_line, l.first_column }; return r; }
static Ast *bin(int op, Ast *a, Ast *b, YYLTYPE l, ParseCtx *ctx) {
  Ast *n = ast_new(A_BIN, L(l, ctx)); n->op = op; ast_add(n, a); ast_add(n, b); return n;
}
/* An expression nested deeper than AST_MAXDEPTH: a located error. */
static int too_deep(Ast *a, YYLTYPE l, ParseCtx *ctx) {
  if (a->depth <= AST_MAXDEPTH) return 0;
  Loc at = { ctx->file, l.first_line, l.first_column };
  err_at(ctx->err, at, "expression more than %d operators deep (split it, or use sum(...) over a list)", AST_MAXDEPTH);
  ast_free(a);              /* bison does not reclaim the rule's own value on YYABORT */
  return 1;
}
static Ast *named(AstKind k, char *name, YYLTYPE l, ParseCtx *ctx) {
  Ast *n = ast_new(k, L(l, ctx)); n->name = name; return n;
}
}

%union { double num; char *str; Ast *ast; }

%token <num> NUM "number"
%token <str> IDENT "name" STR "string"
%token NEWLINE "end of line" DOTDOT "'..'"
%token CONST "'const'" INPUT "'input'" PARAM "'param'" OUTPUT "'output'" FOR "'for'" IN "'in'"
%token BLOCK "'block'" DATA "'data'" TRAIN "'train'" EXPR_START
%type <ast> stmts stmt target decl_init opt_shape expr ref call args arglist arg idxlist idx iters iter targets exprlist
%type <str> kwname
%destructor { free($$); } <str>
%destructor { ast_free($$); } <ast>

%left '+' '-'
%left '*' '/' '@' '.'
%precedence UMINUS

%%
file
  : stmts                      { ctx->root = $1; }
  | EXPR_START expr NEWLINE    { ctx->root = $2; }
  ;
stmts
  : %empty                     { $$ = ast_new(S_BODY, L(@$, ctx)); }
  | stmts NEWLINE              { $$ = $1; }
  | stmts stmt NEWLINE         { $$ = ast_add($1, $2); }
  ;
stmt
  : CONST IDENT '=' expr       { $$ = named(S_CONST, $2, @2, ctx); ast_add($$, $4); }
  | INPUT target opt_shape decl_init { $$ = ast_new(S_INPUT, L(@2, ctx)); ast_add($$, $2); ast_add($$, $3); ast_add($$, $4); }
  | PARAM target opt_shape decl_init { $$ = ast_new(S_PARAM, L(@2, ctx)); ast_add($$, $2); ast_add($$, $3); ast_add($$, $4); }
  | target '=' expr            { $$ = ast_new(S_ASSIGN, L(@1, ctx)); ast_add($$, $1); ast_add($$, $3); }
  | OUTPUT targets             { $$ = $2; }
  | FOR iters '{' stmts '}'    { $$ = ast_new(S_FOR, L(@1, ctx)); ast_add($$, $2); ast_add($$, $4); }
  | BLOCK IDENT '=' call       { $$ = named(S_BLOCK, $2, @2, ctx); ast_add($$, $4); }
  | DATA arglist               { $$ = $2; $$->kind = S_SETTINGS; $$->name = strdup("data"); $$->loc = L(@1, ctx); }
  | TRAIN arglist              { $$ = $2; $$->kind = S_SETTINGS; $$->name = strdup("train"); $$->loc = L(@1, ctx); }
  ;
target
  : IDENT                      { $$ = named(A_REF, $1, @1, ctx); }
  | IDENT '[' idxlist ']'      { $$ = $3; $$->kind = A_REF; $$->name = $1; $$->loc = L(@1, ctx); }
  ;
targets
  : target                     { $$ = ast_add(ast_new(S_OUTPUT, L(@1, ctx)), $1); }
  | targets ',' target         { $$ = ast_add($1, $3); }
  ;
opt_shape
  : %empty                     { $$ = NULL; }
  | ':' '[' exprlist ']'       { $$ = $3; }
  ;
decl_init
  : %empty                     { $$ = NULL; }
  | '=' expr                   { $$ = $2; }
  | '~' call                   { $$ = $2; $$->op = '~'; }
  ;
iters
  : iter                       { $$ = ast_add(ast_new(A_LIST, L(@1, ctx)), $1); }
  | iters ',' iter             { $$ = ast_add($1, $3); }
  ;
iter
  : IDENT IN expr DOTDOT expr  { $$ = named(A_COMPR, $1, @1, ctx); ast_add($$, $3); ast_add($$, $5); }
  ;
idxlist
  : idx                        { $$ = ast_add(ast_new(A_LIST, L(@1, ctx)), $1); }
  | idxlist ',' idx            { $$ = ast_add($1, $3); }
  ;
idx
  : expr                       { $$ = $1; }
  | expr DOTDOT expr           { $$ = ast_new(A_RANGE, L(@1, ctx)); ast_add($$, $1); ast_add($$, $3); }
  ;
expr
  : expr '+' expr              { $$ = bin('+', $1, $3, @2, ctx); if (too_deep($$, @2, ctx)) YYABORT; }
  | expr '-' expr              { $$ = bin('-', $1, $3, @2, ctx); if (too_deep($$, @2, ctx)) YYABORT; }
  | expr '*' expr              { $$ = bin('*', $1, $3, @2, ctx); if (too_deep($$, @2, ctx)) YYABORT; }
  | expr '/' expr              { $$ = bin('/', $1, $3, @2, ctx); if (too_deep($$, @2, ctx)) YYABORT; }
  | expr '@' expr              { $$ = bin('@', $1, $3, @2, ctx); if (too_deep($$, @2, ctx)) YYABORT; }
  | expr '.' expr              { $$ = bin('.', $1, $3, @2, ctx); if (too_deep($$, @2, ctx)) YYABORT; }
  | '-' expr %prec UMINUS      { $$ = ast_add(ast_new(A_NEG, L(@1, ctx)), $2); if (too_deep($$, @1, ctx)) YYABORT; }
  | '(' expr ')'               { $$ = $2; }
  | NUM                        { $$ = ast_new(A_NUM, L(@1, ctx)); $$->num = $1; }
  | STR                        { $$ = named(A_STR, $1, @1, ctx); }
  | '[' exprlist ']'           { $$ = $2; $$->loc = L(@1, ctx); }
  | ref                        { $$ = $1; }
  | call                       { $$ = $1; }
  ;
exprlist
  : expr                       { $$ = ast_add(ast_new(A_LIST, L(@1, ctx)), $1); }
  | exprlist ',' expr          { $$ = ast_add($1, $3); }
  ;
ref
  : IDENT                      { $$ = named(A_REF, $1, @1, ctx); }
  | IDENT '[' idxlist ']'      { $$ = $3; $$->kind = A_REF; $$->name = $1; $$->loc = L(@1, ctx); }
  ;
call
  : IDENT '(' args ')'         { $$ = $3; $$->kind = A_CALL; $$->name = $1; $$->loc = L(@1, ctx); }
  ;
args
  : %empty                     { $$ = ast_new(A_LIST, L(@$, ctx)); }
  | arglist                    { $$ = $1; }
  ;
arglist
  : arg                        { $$ = ast_add(ast_new(A_LIST, L(@1, ctx)), $1); }
  | arglist ',' arg            { $$ = ast_add($1, $3); }
  ;
arg
  : expr                       { $$ = $1; }
  | kwname '=' expr            { $$ = named(A_KW, $1, @1, ctx); ast_add($$, $3); }
  | IDENT IN expr DOTDOT expr ':' expr
                               { $$ = named(A_COMPR, $1, @1, ctx); ast_add($$, $3); ast_add($$, $5); ast_add($$, $7); }
  ;
kwname
  : IDENT                      { $$ = $1; }
  | TRAIN                      { $$ = strdup("train"); }
  | DATA                       { $$ = strdup("data"); }
  | INPUT                      { $$ = strdup("input"); }
  | IN                         { $$ = strdup("in"); }
  ;
%%

static void yyerror(YYLTYPE *l, yyscan_t sc, ParseCtx *ctx, const char *msg) {
  (void)sc;
  Loc at = { ctx->file, l->first_line, l->first_column };
  /* bison says "syntax error, unexpected X, expecting Y": keep the useful part */
  if (strncmp(msg, "syntax error, ", 14) == 0) msg += 14;
  if (ctx->depth > 0) {
    int d = ctx->depth - 1;
    err_at(ctx->err, at, "%s (the '%c' opened at %d:%d is still open)", msg, ctx->open_ch[d], ctx->open_line[d], ctx->open_col[d]);
  } else err_at(ctx->err, at, "%s", msg);
}

static Ast *run(const char *file, const char *src, size_t len, Err *e, int expr_only) {
  ParseCtx ctx; memset(&ctx, 0, sizeof ctx);
  ctx.file = file; ctx.err = e; ctx.line = 1; ctx.col = 1; ctx.expr_only = expr_only;
  yyscan_t sc;
  if (yylex_init_extra(&ctx, &sc)) { err_set(e, "%s: error: cannot start the lexer", file); return NULL; }
  YY_BUFFER_STATE buf = yy_scan_bytes(src, (int)len, sc);
  int rc = yyparse(sc, &ctx);
  yy_delete_buffer(buf, sc);
  yylex_destroy(sc);
  if (rc != 0 || e->set) {
    if (!e->set) err_set(e, "%s: error: cannot parse (out of memory?)", file);
    ast_free(ctx.root);
    return NULL;
  }
  return ctx.root;
}

Ast *parse_model(const char *file, const char *src, size_t len, Err *e) {
  if (len > (size_t)1 << 30) { err_set(e, "%s: error: file larger than 1 GiB", file); return NULL; }
  return run(file, src, len, e, 0);
}

Ast *parse_expr_string(const char *what, const char *src, Err *e) {
  return run(what, src, strlen(src), e, 1);
}
