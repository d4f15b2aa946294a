/*
** ast.h — the syntax tree the parser produces and the builder consumes.
**
** One struct for everything: statements and expressions are Ast nodes with
** a kind, a location, an optional name/number/string and a list of kids.
** The parser knows nothing about tensors; the builder gives the tree meaning.
*/
#ifndef GR_AST_H
#define GR_AST_H
#include "util.h"

typedef enum AstKind {
  /* expressions */
  A_NUM,        /* num                                                */
  A_STR,        /* str                                                */
  A_REF,        /* name, kids = indices (A_RANGE or expressions)      */
  A_BIN,        /* kids[0] op kids[1], op one of + - * / @ . */
  A_NEG,        /* - kids[0]                                          */
  A_CALL,       /* name(kids): args, A_KW, A_COMPR                    */
  A_LIST,       /* [kids] literal                                     */
  A_RANGE,      /* kids[0] .. kids[1]                                 */
  A_KW,         /* name = kids[0]                                     */
  A_COMPR,      /* name in kids[0]..kids[1] : kids[2]                 */
  /* statements */
  S_CONST,      /* const name = kids[0]                               */
  S_INPUT,      /* input  target kids[0]; kids[1] shape or NULL; kids[2] init or NULL */
  S_PARAM,      /* param  (as input); init: A_CALL with op '~' = random init */
  S_ASSIGN,     /* target kids[0] = kids[1]                           */
  S_OUTPUT,     /* output kids (A_REF)                                */
  S_FOR,        /* for kids[0] (A_COMPR list without body) { kids[1] (S_BODY) } */
  S_BODY,       /* a list of statements                               */
  S_BLOCK,      /* block name = kids[0] (A_CALL)                      */
  S_SETTINGS,   /* data / train: name = "data"|"train", kids = args   */
} AstKind;

typedef struct Ast {
  AstKind kind;
  Loc loc;
  int op;              /* A_BIN operator character; '~' for random init  */
  double num;
  char *name;          /* identifier, string literal, setting kind         */
  struct Ast **kids;
  int nkids, cap;
  int depth;           /* 1 + the deepest kid's depth (a leaf: 0)          */
} Ast;

/* Deepest expression the parser accepts: the builder and ast_free recurse
** over the tree, so a chain of operators must not exhaust the C stack. */
#define AST_MAXDEPTH 1000

Ast *ast_new(AstKind kind, Loc loc);
Ast *ast_add(Ast *parent, Ast *kid);      /* appends, returns parent */
void ast_free(Ast *a);

/* Parses a whole model file held in memory (len bytes, may contain NULs).
** Returns the S_BODY root, or NULL with a located message in e. */
Ast *parse_model(const char *file, const char *src, size_t len, Err *e);
/* Parses one literal or expression (for --set NAME=VALUE). */
Ast *parse_expr_string(const char *what, const char *src, Err *e);

#endif
