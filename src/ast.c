/*
** ast.c — building and freeing syntax trees.
*/
#include "ast.h"
#include <stdlib.h>

Ast *ast_new(AstKind kind, Loc loc) {
  Ast *a = xcalloc(1, sizeof *a);
  a->kind = kind; a->loc = loc;
  return a;
}

Ast *ast_add(Ast *p, Ast *kid) {
  if (p->nkids == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 4;
    p->kids = xrealloc(p->kids, sizeof *p->kids * p->cap);
  }
  p->kids[p->nkids++] = kid;
  if (kid && kid->depth >= p->depth) p->depth = kid->depth + 1;
  return p;
}

void ast_free(Ast *a) {
  if (!a) return;
  for (int i = 0; i < a->nkids; i++) ast_free(a->kids[i]);
  free(a->kids);
  free(a->name);
  free(a);
}
