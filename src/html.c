/*
** html.c — the --html page: one self-contained file (inline SVG, CSS and
** JavaScript; no network reference of any kind) that steps through the
** worked solution on the drawing.
**
** The steps are the lines of --trace, as trace.c's trace_lines() (a plain
** model) or trace_seq.c's trace_seq_lines() (a sequence model at toy size)
** hand them over, each with the node it belongs to.  Of a plain model: a
** forward equation per node, then one gradient per node of the backward
** pass; its drawing is dot.c's with values (rendered by libgvc, render.c),
** so every box already has its value and gradient rows at their final
** size; the script blanks those rows and fills each one in when its step is
** reached: forward steps fill values, backward steps fill gradients.  Of a
** sequence model: every line of its traced training step (a forward or
** backward step of a block takes many lines; notes such as the data or the
** SGD step may belong to no node), on the drawing --svg makes, which has no
** values.  Headings and blank lines are no steps: a heading is shown above
** the steps that follow it.  The current step's node (box n<id> and circle
** o<id>) and the edges into it (class in<id>) are highlighted, and its
** trace line is shown beside the drawing.
**
** Stepping: Next / Prev buttons, the arrow keys (→ ↓ next, ← ↑ back,
** Home, End).  The URL fragment #step=N opens the page at step N (0: before
** the first; a number past the end: the final state) and follows the steps.
*/
#include "show.h"
#include <stdlib.h>
#include <string.h>

typedef struct Steps {
  FILE *f, *heads;     /* the STEPS and HEADS arrays being written */
  FILE *echo;          /* every line also printed here, if set */
  int n, nheads;
} Steps;

/* A JavaScript string literal; '<' escaped so no "</script>" can occur. */
static void js_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 32 || c == '<' || c == '>' || c == '&') fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* The trace's sink: each forward, backward or note line is one step,
** [node id or -1, "f", "b" or "n", line without its leading indent]; a
** heading is [number of steps before it, text without the trace's "== "]; the closing list of
** gradients repeats the backward pass's last numbers and is left out. */
static void add_step(void *ctx, const Node *n, TracePhase phase, const char *line) {
  Steps *s = ctx;
  if (s->echo) trace_to_file(s->echo, n, phase, line);
  while (*line == ' ') line++;
  if (phase == TRACE_SUM || (phase == TRACE_HEAD && !*line)) return;
  if (phase == TRACE_HEAD) {
    if (!strncmp(line, "== ", 3)) line += 3;        /* the text trace's marker: the page's heading is enough */
    fprintf(s->heads, "%s[%d,", s->nheads++ ? ",\n" : "", s->n);
    js_str(s->heads, line);
    fputc(']', s->heads);
    return;
  }
  fprintf(s->f, "%s[%d,\"%c\",", s->n++ ? ",\n" : "", n ? n->id : -1,
          phase == TRACE_FWD ? 'f' : phase == TRACE_BWD ? 'b' : 'n');
  js_str(s->f, line);
  fputc(']', s->f);
}

static const char *page_css =
  "body{font:15px/1.4 system-ui,Helvetica,Arial,sans-serif;margin:0;color:#111827;background:#f9fafb}\n"
  "header{display:flex;gap:.6em;align-items:center;padding:.5em 1em;background:#fff;border-bottom:1px solid #e5e7eb;"
  "position:sticky;top:0;z-index:1}\n"
  "header h1{font-size:1em;margin:0 1em 0 0}\n"
  "button{font:inherit;padding:.2em .9em;border:1px solid #9ca3af;border-radius:4px;background:#fff;cursor:pointer}\n"
  "button:disabled{opacity:.4;cursor:default}\n"
  "#counter{color:#4b5563;min-width:13em}\n"
  "main{display:flex;gap:1em;padding:1em;align-items:flex-start}\n"
  "#drawing{flex:1 1 auto;overflow:auto;background:#fff;border:1px solid #e5e7eb;max-height:calc(100vh - 6em)}\n"
  "#drawing svg{display:block}\n"
  "#drawing.fit svg{width:100%;height:auto}\n"
  "aside{flex:0 0 26em;max-width:40%}\n"
  "#phase{font-weight:600;margin-bottom:.3em}\n"
  "#eq{font:13px/1.5 ui-monospace,Menlo,Consolas,monospace;background:#fff;border:2px solid #f59e0b;"
  "border-radius:6px;padding:.6em .8em;white-space:pre-wrap;word-break:break-word;min-height:3em}\n"
  "#log{font:11px/1.5 ui-monospace,Menlo,Consolas,monospace;margin-top:1em;max-height:calc(100vh - 16em);"
  "overflow:auto;white-space:pre;color:#6b7280}\n"
  "#log div.cur{color:#111827;background:#fef3c7}\n"
  "g.cur polygon,g.cur ellipse{stroke:#d97706;stroke-width:3}\n"
  "g.edge.cur path{stroke:#d97706;stroke-width:2.5}\n"
  "g.edge.cur polygon{stroke:#d97706;fill:#d97706}\n"
  "kbd{border:1px solid #9ca3af;border-radius:3px;padding:0 .3em;font-size:.85em}\n";

static const char *page_js =
  "(function(){\n"
  "'use strict';\n"
  "var svg=document.querySelector('#drawing svg'),k=0,N=STEPS.length,boxes={};\n"
  /* each box's value (second text) and gradient (third text), kept and blanked */
  "if(FILL)Array.prototype.forEach.call(svg.querySelectorAll('g.node'),function(g){\n"
  "  if(!/^n\\d+$/.test(g.id))return;\n"
  "  var t=g.querySelectorAll('text');\n"
  "  boxes[g.id.slice(1)]={v:t[1]||null,g:t[2]||null,vt:t[1]?t[1].textContent:'',gt:t[2]?t[2].textContent:''};\n"
  "});\n"
  "function el(id){return document.getElementById(id);}\n"
  "function show(n){\n"
  "  k=Math.max(0,Math.min(N,n));\n"
  "  var seen={f:{},b:{},n:{}},i,s,h='';\n"
  "  for(i=0;i<k;i++)seen[STEPS[i][1]][STEPS[i][0]]=1;\n"
  "  for(i in boxes){var b=boxes[i];\n"
  "    if(b.v)b.v.textContent=seen.f[i]?b.vt:'';\n"
  "    if(b.g)b.g.textContent=seen.b[i]?b.gt:'';}\n"
  "  Array.prototype.forEach.call(svg.querySelectorAll('.cur'),function(e){e.classList.remove('cur');});\n"
  "  var log=el('log').children;\n"
  "  for(i=0;i<log.length;i++){log[i].hidden=i>=k;if(i===k-1)log[i].className='cur';else log[i].removeAttribute('class');}\n"
  "  if(k>0&&STEPS[k-1][0]>=0){s=STEPS[k-1];\n"
  "    ['n','o'].forEach(function(p){var e=el(p+s[0]);if(e)e.classList.add('cur');});\n"
  "    Array.prototype.forEach.call(svg.querySelectorAll('g.edge.in'+s[0]),function(e){e.classList.add('cur');});\n"
  "    var c=el('n'+s[0])||el('o'+s[0]);if(c&&c.scrollIntoView)c.scrollIntoView({block:'nearest',inline:'nearest'});\n"
  "  }\n"
  "  if(k>0)log[k-1].scrollIntoView({block:'nearest'});\n"
  /* the heading the current step comes under */
  "  for(i=0;i<HEADS.length&&HEADS[i][0]<k;i++)h=HEADS[i][1];\n"
  "  el('eq').textContent=k?STEPS[k-1][2]:'Press \\u2192 or Next to start the forward pass.';\n"
  "  el('phase').textContent=k===0?'Before the forward pass':h||{f:'Forward pass',b:'Backward pass',n:'The training step'}[STEPS[k-1][1]];\n"
  "  el('counter').textContent='step '+k+' of '+N;\n"
  "  el('prev').disabled=k===0;el('next').disabled=k===N;\n"
  "  if(location.hash!=='#step='+k)history.replaceState(null,'','#step='+k);\n"
  "}\n"
  "function fromHash(){var m=/^#step=(\\d+)$/.exec(location.hash);return m?Math.min(N,parseInt(m[1],10)):0;}\n"
  "var log=el('log');STEPS.forEach(function(s){var d=document.createElement('div');d.textContent=s[2];log.appendChild(d);});\n"
  "el('next').onclick=function(){show(k+1);};\n"
  "el('prev').onclick=function(){show(k-1);};\n"
  "el('fit').onclick=function(){el('drawing').classList.toggle('fit');};\n"
  "document.addEventListener('keydown',function(e){\n"
  "  if(e.altKey||e.ctrlKey||e.metaKey)return;\n"
  "  var to={ArrowRight:k+1,ArrowDown:k+1,ArrowLeft:k-1,ArrowUp:k-1,Home:0,End:N}[e.key];\n"
  "  if(to!==undefined){e.preventDefault();show(to);}\n"
  "});\n"
  "window.addEventListener('hashchange',function(){show(fromHash());});\n"
  "show(fromHash());\n"
  "})();\n";

/* The SVG element of Graphviz's output, without the XML prolog, and with
** no namespace URLs (an inline <svg> in HTML needs none). */
static void put_svg(FILE *f, const char *svg) {
  const char *p = strstr(svg, "<svg");
  if (!p) p = svg;
  static const char *drop[] = { " xmlns=\"http://www.w3.org/2000/svg\"", " xmlns:xlink=\"http://www.w3.org/1999/xlink\"" };
  while (*p) {
    int skipped = 0;
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
      if (!strncmp(p, drop[i], strlen(drop[i]))) { p += strlen(drop[i]); skipped = 1; }
    if (!skipped) fputc(*p++, f);
  }
}

static void put_html_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else fputc(*s, f);
  }
}

int html_write(const char *path, Model *m, const char *dot, Node *out, int have_grads, const TrainCfg *seq,
               FILE *echo, Err *e) {
  char *svg = NULL, *page = NULL, *heads = NULL;
  size_t nsvg = 0, npage = 0, nheads = 0;
  FILE *f = open_memstream(&page, &npage), *h = open_memstream(&heads, &nheads);
  if (!f || !h) { perror("graphrun: open_memstream"); exit(1); }
  Steps st = { f, h, echo, 0, 0 };
  fputs("var STEPS=[\n", f);
  int rc = seq ? trace_seq_lines(m, seq, "--html", add_step, &st, e) : (trace_lines(m, out, have_grads, add_step, &st), 0);
  fclose(h);
  fclose(f);
  if (!rc) rc = render_dot(dot, "svg", &svg, &nsvg, e);
  if (rc) { free(page); free(heads); return rc; }
  char *steps = page;                /* the script's data, written first: the trace may be refused */
  f = open_memstream(&page, &npage);
  if (!f) { perror("graphrun: open_memstream"); exit(1); }
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
  put_html_text(f, m->path);
  fputs(" — graphrun</title>\n<style>\n", f);
  fputs(page_css, f);
  fputs("</style>\n</head>\n<body>\n<header><h1>", f);
  put_html_text(f, m->path);
  fputs("</h1><button id=\"prev\" title=\"previous step (\u2190)\">\u2190 Prev</button>"
        "<button id=\"next\" title=\"next step (\u2192)\">Next \u2192</button><span id=\"counter\"></span>"
        "<button id=\"fit\" title=\"fit the drawing to the window, or show it at full size\">fit / full size</button>"
        "<span><kbd>\u2190</kbd> <kbd>\u2192</kbd> step, <kbd>Home</kbd> <kbd>End</kbd></span></header>\n"
        "<main>\n<div id=\"drawing\" class=\"fit\">\n", f);
  put_svg(f, svg);
  fputs("</div>\n<aside><div id=\"phase\"></div><div id=\"eq\"></div><div id=\"log\"></div></aside>\n</main>\n"
        "<script>\n", f);
  fputs(steps, f);
  fprintf(f, "];\nvar HEADS=[\n%s];\nvar FILL=%d;\n", heads, !seq);
  fputs(page_js, f);
  fputs("</script>\n</body>\n</html>\n", f);
  fclose(f);
  rc = write_file_atomic(path, page, npage, e);
  free(steps);
  free(heads);
  free(svg);
  free(page);
  return rc;
}
