/* lib/doc: documents as HTML and as paged PDF through pango and cairo
 * (doc.h).  The PDF is laid out twice with the same code: once to count
 * the pages (on a PDF surface that writes nowhere, so that every metric
 * is the real one), once to draw them with "page N of M". */
#include "config.h"

#include "doc.h"

#include <cairo-pdf.h>
#include <errno.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

#define MAX_COLS 32

enum kind { B_HEADING, B_PARAGRAPH, B_FIELD, B_TABLE, B_BARS, B_SERIES };

struct row {
	char **cells;
	bool total;
};

struct block {
	enum kind kind;
	char *text, *label; /* heading and paragraph: text; field: label and text */
	size_t ncols;       /* table */
	char **headers;
	enum vm_doc_align align[MAX_COLS];
	struct row *rows; /* bars: cells {label, text} */
	size_t nrows, caprows;
	int64_t *values; /* bars: one per row */
	/* series: n_series x npoints values; headers: the names (NULL
	 * allowed), label: "x_from\x1fx_to\x1funit\x1fline_label" */
	double *points, line;
	size_t nseries, npoints;
	char **names;
};

struct vm_doc {
	char *title;
	struct block *blocks;
	size_t n, cap;
};

struct vm_doc *vm_doc_new(const char *title)
{
	struct vm_doc *d = vm_xcalloc(1, sizeof *d);
	d->title = vm_xstrdup(title ? title : "");
	return d;
}

static char **copy_cells(const char *const *cells, size_t n)
{
	char **c = vm_xcalloc(n, sizeof *c);
	for (size_t i = 0; i < n; i++)
		c[i] = vm_xstrdup(cells && cells[i] ? cells[i] : "");
	return c;
}

static void free_cells(char **c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		free(c[i]);
	free(c);
}

void vm_doc_free(struct vm_doc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		struct block *b = &d->blocks[i];
		free(b->text);
		free(b->label);
		free_cells(b->headers, b->ncols);
		for (size_t r = 0; r < b->nrows; r++)
			free_cells(b->rows[r].cells, b->ncols);
		free(b->rows);
		free(b->values);
		free(b->points);
		for (size_t k = 0; b->names && k < b->nseries; k++)
			free(b->names[k]);
		free(b->names);
	}
	free(d->blocks);
	free(d->title);
	free(d);
}

static struct block *add(struct vm_doc *d, enum kind k)
{
	d->blocks = vm_xgrow(d->blocks, &d->cap, d->n + 1, sizeof *d->blocks);
	struct block *b = memset(&d->blocks[d->n++], 0, sizeof *d->blocks);
	b->kind = k;
	return b;
}

void vm_doc_heading(struct vm_doc *d, const char *text)
{
	add(d, B_HEADING)->text = vm_xstrdup(text);
}

void vm_doc_paragraph(struct vm_doc *d, const char *text)
{
	add(d, B_PARAGRAPH)->text = vm_xstrdup(text);
}

void vm_doc_field(struct vm_doc *d, const char *label, const char *value)
{
	struct block *b = add(d, B_FIELD);
	b->label = vm_xstrdup(label);
	b->text = vm_xstrdup(value);
}

void vm_doc_table(struct vm_doc *d, size_t n, const char *const *headers, const enum vm_doc_align *align)
{
	struct block *b = add(d, B_TABLE);
	b->ncols = n < 1 ? 1 : n > MAX_COLS ? MAX_COLS : n;
	b->headers = copy_cells(headers, b->ncols);
	for (size_t i = 0; i < b->ncols; i++)
		b->align[i] = align ? align[i] : VM_DOC_LEFT;
}

static void row(struct vm_doc *d, const char *const *cells, bool total)
{
	if (!d->n || d->blocks[d->n - 1].kind != B_TABLE)
		vm_doc_table(d, 1, NULL, NULL); /* rows without a table: one of a column */
	struct block *b = &d->blocks[d->n - 1];
	b->rows = vm_xgrow(b->rows, &b->caprows, b->nrows + 1, sizeof *b->rows);
	b->rows[b->nrows++] = (struct row){copy_cells(cells, b->ncols), total};
}

void vm_doc_row(struct vm_doc *d, const char *const *cells)
{
	row(d, cells, false);
}

void vm_doc_total(struct vm_doc *d, const char *const *cells)
{
	row(d, cells, true);
}

void vm_doc_bars(struct vm_doc *d, const char *caption, size_t n, const char *const *labels, const int64_t *values,
                 const char *const *texts)
{
	struct block *b = add(d, B_BARS);
	b->text = vm_xstrdup(caption ? caption : "");
	b->ncols = 2;
	n = n > VM_DOC_MAX_BARS ? VM_DOC_MAX_BARS : n;
	b->rows = vm_xcalloc(n ? n : 1, sizeof *b->rows);
	b->values = vm_xcalloc(n ? n : 1, sizeof *b->values);
	for (size_t i = 0; i < n; i++) {
		const char *cells[2] = {labels ? labels[i] : NULL, texts ? texts[i] : NULL};
		b->rows[i] = (struct row){copy_cells(cells, 2), false};
		b->values[i] = values ? values[i] : 0;
	}
	b->nrows = b->caprows = n;
}

void vm_doc_series(struct vm_doc *d, const char *caption, size_t n_series, const char *const *names, size_t n,
                   const double *const *ys, const char *x_from, const char *x_to, const char *unit, double line,
                   const char *line_label)
{
	struct block *b = add(d, B_SERIES);
	b->text = vm_xstrdup(caption ? caption : "");
	b->nseries = n_series > VM_DOC_MAX_SERIES ? VM_DOC_MAX_SERIES : n_series;
	b->npoints = n > VM_DOC_MAX_POINTS ? VM_DOC_MAX_POINTS : n;
	b->points = vm_xcalloc(b->nseries * b->npoints + 1, sizeof *b->points);
	b->names = vm_xcalloc(b->nseries + 1, sizeof *b->names);
	for (size_t k = 0; k < b->nseries; k++) {
		b->names[k] = names && names[k] ? vm_xstrdup(names[k]) : NULL;
		memcpy(b->points + k * b->npoints, ys[k], b->npoints * sizeof *b->points);
	}
	b->line = line;
	b->label = vm_xasprintf("%s\x1f%s\x1f%s\x1f%s", x_from ? x_from : "", x_to ? x_to : "", unit ? unit : "",
	                        line_label ? line_label : "");
}

/* The texts of a series block: x_from, x_to, unit, line label. */
static void series_texts(const struct block *b, char out[4][128])
{
	const char *p = b->label;
	for (int i = 0; i < 4; i++) {
		const char *e = strchr(p, '\x1f');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		snprintf(out[i], 128, "%.*s", (int)len, p);
		p = e ? e + 1 : p + len;
	}
}

/* The y range: 0 (or the lowest value) to the highest or the line. */
static void series_range(const struct block *b, double *lo, double *hi)
{
	*lo = 0, *hi = 0;
	for (size_t i = 0; i < b->nseries * b->npoints; i++)
		if (isfinite(b->points[i])) {
			*hi = b->points[i] > *hi ? b->points[i] : *hi;
			*lo = b->points[i] < *lo ? b->points[i] : *lo;
		}
	if (isfinite(b->line))
		*hi = b->line > *hi ? b->line : *hi;
	if (*hi <= *lo)
		*hi = *lo + 1;
}

static const char *const series_colour[VM_DOC_MAX_SERIES] = {"#4f81bd", "#e07b20", "#e07b20",
                                                             "#e07b20", "#888888", "#888888"};
static const double series_rgb[VM_DOC_MAX_SERIES][3] = {{0.31, 0.51, 0.74}, {0.88, 0.48, 0.13}, {0.88, 0.48, 0.13},
                                                        {0.88, 0.48, 0.13}, {0.53, 0.53, 0.53}, {0.53, 0.53, 0.53}};

/* |v| as unsigned: INT64_MIN too. */
static uint64_t magnitude(int64_t v)
{
	return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static uint64_t bars_max(const struct block *b)
{
	uint64_t m = 0;
	for (size_t i = 0; i < b->nrows; i++)
		m = magnitude(b->values[i]) > m ? magnitude(b->values[i]) : m;
	return m;
}

/* ---------------------------------------------------------------- HTML */

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* A bar chart as inline SVG: labels in a column, bars on a 300-pixel
 * scale (lengths in whole pixels, integers), each bar's text after it. */
#define SVG_LABEL_W 180
#define SVG_BAR_W 300
#define SVG_ROW_H 18
static void html_bars(FILE *f, const struct block *b)
{
	uint64_t max = bars_max(b);
	fputs("<figure class=\"bars\">", f);
	if (b->text[0]) {
		fputs("<figcaption>", f);
		esc(f, b->text);
		fputs("</figcaption>", f);
	}
	fprintf(f,
	        "\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%zu\" role=\"img\" "
	        "font-family=\"sans-serif\" font-size=\"11\">\n",
	        SVG_LABEL_W + SVG_BAR_W + 160, b->nrows * SVG_ROW_H + 4);
	for (size_t i = 0; i < b->nrows; i++) {
		unsigned long long len =
		    max ? (unsigned long long)((unsigned __int128)magnitude(b->values[i]) * SVG_BAR_W / max) : 0;
		if (b->values[i] && len == 0)
			len = 1; /* a value is never drawn as nothing */
		size_t y = i * SVG_ROW_H + 2;
		fprintf(f, "<text x=\"%d\" y=\"%zu\" text-anchor=\"end\">", SVG_LABEL_W - 6, y + 12);
		esc(f, b->rows[i].cells[0]);
		fprintf(f, "</text><rect x=\"%d\" y=\"%zu\" width=\"%llu\" height=\"%d\" fill=\"%s\"/>", SVG_LABEL_W,
		        y + 2, len, SVG_ROW_H - 5, b->values[i] < 0 ? "#c0504d" : "#4f81bd");
		fprintf(f, "<text x=\"%llu\" y=\"%zu\">", SVG_LABEL_W + len + 6, y + 12);
		esc(f, b->rows[i].cells[1]);
		fputs("</text>\n", f);
	}
	fputs("</svg></figure>\n", f);
}

/* A line chart as inline SVG: a plot area of SVG_PLOT_W x SVG_PLOT_H
 * pixels, a polyline per run of values between gaps. */
#define SVG_PLOT_W 520
#define SVG_PLOT_H 160
#define SVG_LEFT 70
static void html_series(FILE *f, const struct block *b)
{
	char t[4][128];
	series_texts(b, t);
	double lo, hi;
	series_range(b, &lo, &hi);
	fputs("<figure class=\"series\">", f);
	if (b->text[0]) {
		fputs("<figcaption>", f);
		esc(f, b->text);
		fputs("</figcaption>", f);
	}
	fprintf(f,
	        "\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
	        "font-family=\"sans-serif\" font-size=\"11\">\n",
	        SVG_LEFT + SVG_PLOT_W + 20, SVG_PLOT_H + 40 + 14 * (int)b->nseries);
	fprintf(f, "<path d=\"M%d 10h%dv%dh-%dz\" fill=\"none\" stroke=\"#ccc\"/>\n", SVG_LEFT, SVG_PLOT_W, SVG_PLOT_H,
	        SVG_PLOT_W);
	fprintf(f, "<text x=\"%d\" y=\"20\" text-anchor=\"end\">%.4g", SVG_LEFT - 4, hi);
	esc(f, t[2][0] ? " " : "");
	esc(f, t[2]);
	fprintf(f, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.4g</text>\n", SVG_LEFT - 4, SVG_PLOT_H + 10,
	        lo);
	fprintf(f, "<text x=\"%d\" y=\"%d\">", SVG_LEFT, SVG_PLOT_H + 24);
	esc(f, t[0]);
	fprintf(f, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">", SVG_LEFT + SVG_PLOT_W, SVG_PLOT_H + 24);
	esc(f, t[1]);
	fputs("</text>\n", f);
	double sx = b->npoints > 1 ? (double)SVG_PLOT_W / (double)(b->npoints - 1) : 0;
#define SY(v) (10 + SVG_PLOT_H - ((v)-lo) / (hi - lo) * SVG_PLOT_H)
	if (isfinite(b->line)) {
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c0504d\"/>", SVG_LEFT,
		        SY(b->line), SVG_LEFT + SVG_PLOT_W, SY(b->line));
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#c0504d\">", SVG_LEFT + 4,
		        SY(b->line) - 3 < 20 ? SY(b->line) + 11 : SY(b->line) - 3);
		esc(f, t[3]);
		fputs("</text>\n", f);
	}
	for (size_t k = 0; k < b->nseries; k++) {
		const double *v = b->points + k * b->npoints;
		const char *dash = k == 2 || k == 3 ? " stroke-dasharray=\"4 3\""
		                   : k >= 4         ? " stroke-dasharray=\"1 2\""
		                                    : "";
		for (size_t i = 0; i < b->npoints;) {
			while (i < b->npoints && !isfinite(v[i]))
				i++;
			if (i == b->npoints)
				break;
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\"%s points=\"", series_colour[k], dash);
			for (; i < b->npoints && isfinite(v[i]); i++)
				fprintf(f, "%.1f,%.1f ", SVG_LEFT + sx * (double)i, SY(v[i]));
			fputs("\"/>\n", f);
		}
		if (b->names[k]) {
			int y = SVG_PLOT_H + 38 + 14 * (int)k;
			fprintf(
			    f,
			    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"%s/><text x=\"%d\" y=\"%d\">",
			    SVG_LEFT, y - 4, SVG_LEFT + 20, y - 4, series_colour[k], dash, SVG_LEFT + 26, y);
			esc(f, b->names[k]);
			fputs("</text>\n", f);
		}
	}
#undef SY
	fputs("</svg></figure>\n", f);
}

int vm_doc_write_html(const struct vm_doc *d, FILE *f)
{
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
	esc(f, d->title);
	fputs("</title>\n<style>body{font-family:sans-serif;font-size:10pt;max-width:60em;margin:2em auto}"
	      "table{border-collapse:collapse;margin:1em 0}th,td{padding:2px 8px;border-bottom:1px solid #ddd}"
	      "th{text-align:left;background:#f4f4f4}.r{text-align:right;font-variant-numeric:tabular-nums}"
	      "tr.total td{font-weight:bold;border-top:2px solid "
	      "#444}dl{display:grid;grid-template-columns:max-content auto;"
	      "gap:2px 1em}dt{color:#555}dd{margin:0}figure{margin:1em 0}figcaption{font-weight:bold}"
	      "</style></head>\n<body>\n<h1>",
	      f);
	esc(f, d->title);
	fputs("</h1>\n", f);
	for (size_t i = 0; i < d->n; i++) {
		const struct block *b = &d->blocks[i];
		switch (b->kind) {
		case B_HEADING:
			fputs("<h2>", f);
			esc(f, b->text);
			fputs("</h2>\n", f);
			break;
		case B_PARAGRAPH:
			fputs("<p>", f);
			esc(f, b->text);
			fputs("</p>\n", f);
			break;
		case B_FIELD:
			if (i == 0 || d->blocks[i - 1].kind != B_FIELD)
				fputs("<dl>\n", f);
			fputs("<dt>", f);
			esc(f, b->label);
			fputs("</dt><dd>", f);
			esc(f, b->text);
			fputs("</dd>\n", f);
			if (i + 1 == d->n || d->blocks[i + 1].kind != B_FIELD)
				fputs("</dl>\n", f);
			break;
		case B_TABLE:
			fputs("<table>\n<thead><tr>", f);
			for (size_t c = 0; c < b->ncols; c++) {
				fputs(b->align[c] == VM_DOC_RIGHT ? "<th class=\"r\">" : "<th>", f);
				esc(f, b->headers[c]);
				fputs("</th>", f);
			}
			fputs("</tr></thead>\n<tbody>\n", f);
			for (size_t r = 0; r < b->nrows; r++) {
				fputs(b->rows[r].total ? "<tr class=\"total\">" : "<tr>", f);
				for (size_t c = 0; c < b->ncols; c++) {
					fputs(b->align[c] == VM_DOC_RIGHT ? "<td class=\"r\">" : "<td>", f);
					esc(f, b->rows[r].cells[c]);
					fputs("</td>", f);
				}
				fputs("</tr>\n", f);
			}
			fputs("</tbody></table>\n", f);
			break;
		case B_BARS: html_bars(f, b); break;
		case B_SERIES: html_series(f, b); break;
		}
	}
	fputs("</body></html>\n", f);
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- PDF */

#define PAGE_W 595.276 /* A4, points */
#define PAGE_H 841.890
#define MARGIN 50.0
#define CONTENT_W (PAGE_W - 2 * MARGIN)
#define TOP (MARGIN + 24)             /* below the running header */
#define BOTTOM (PAGE_H - MARGIN - 20) /* above the footer */
#define PAD 3.0

struct pdf {
	cairo_t *cr;
	bool draw;
	int page, pages; /* the current one (1-based), and the count from the first pass */
	double y;
	const struct vm_doc *d;
};

static PangoLayout *layout(struct pdf *p, const char *text, const char *font, double width)
{
	PangoLayout *l = pango_cairo_create_layout(p->cr);
	PangoFontDescription *fd = pango_font_description_from_string(font);
	pango_layout_set_font_description(l, fd);
	pango_font_description_free(fd);
	if (width > 0) {
		pango_layout_set_width(l, (int)(width * PANGO_SCALE));
		pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	}
	pango_layout_set_text(l, text, -1);
	return l;
}

static void size_of(PangoLayout *l, double *w, double *h)
{
	int iw, ih;
	pango_layout_get_size(l, &iw, &ih);
	*w = (double)iw / PANGO_SCALE;
	*h = (double)ih / PANGO_SCALE;
}

static void show(struct pdf *p, PangoLayout *l, double x, double y)
{
	if (!p->draw)
		return;
	cairo_move_to(p->cr, x, y);
	pango_cairo_show_layout(p->cr, l);
}

/* The running header and the footer of the current page. */
static void page_furniture(struct pdf *p)
{
	if (!p->draw)
		return;
	PangoLayout *l = layout(p, p->d->title, "Sans 7", CONTENT_W);
	cairo_set_source_rgb(p->cr, 0.4, 0.4, 0.4);
	show(p, l, MARGIN, MARGIN);
	g_object_unref(l);
	char foot[64];
	snprintf(foot, sizeof foot, "page %d of %d", p->page, p->pages);
	l = layout(p, foot, "Sans 7", CONTENT_W);
	pango_layout_set_alignment(l, PANGO_ALIGN_RIGHT);
	show(p, l, MARGIN, PAGE_H - MARGIN - 8);
	g_object_unref(l);
	cairo_set_source_rgb(p->cr, 0, 0, 0);
}

static void new_page(struct pdf *p)
{
	if (p->draw && p->page > 0)
		cairo_show_page(p->cr);
	p->page++;
	p->y = TOP;
	page_furniture(p);
}

/* Room for h more points on this page, or a new page. */
static void need(struct pdf *p, double h)
{
	if (p->y + h > BOTTOM && p->y > TOP)
		new_page(p);
}

static void text_block(struct pdf *p, const char *text, const char *font, double before, double keep)
{
	PangoLayout *l = layout(p, text, font, CONTENT_W);
	double w, h;
	size_of(l, &w, &h);
	need(p, before + h + keep);
	p->y += p->y > TOP ? before : 0;
	show(p, l, MARGIN, p->y);
	p->y += h;
	g_object_unref(l);
}

/* Consecutive fields from block i: labels in a column as wide as the
 * widest.  Returns the index after them. */
static size_t fields(struct pdf *p, size_t i)
{
	size_t j = i;
	double lw = 0, w, h;
	for (; j < p->d->n && p->d->blocks[j].kind == B_FIELD; j++) {
		PangoLayout *l = layout(p, p->d->blocks[j].label, "Sans Bold 9", 0);
		size_of(l, &w, &h);
		lw = w > lw ? w : lw;
		g_object_unref(l);
	}
	lw = lw + 12 > CONTENT_W / 2 ? CONTENT_W / 2 : lw + 12;
	p->y += p->y > TOP ? 6 : 0;
	for (size_t k = i; k < j; k++) {
		PangoLayout *a = layout(p, p->d->blocks[k].label, "Sans Bold 9", lw - 10);
		PangoLayout *b = layout(p, p->d->blocks[k].text, "Sans 9", CONTENT_W - lw);
		double ha, hb;
		size_of(a, &w, &ha);
		size_of(b, &w, &hb);
		double rh = (ha > hb ? ha : hb) + 1;
		need(p, rh);
		show(p, a, MARGIN, p->y);
		show(p, b, MARGIN + lw, p->y);
		p->y += rh;
		g_object_unref(a);
		g_object_unref(b);
	}
	return j;
}

/* One row of a table: its height, drawn at p->y if drawing. */
static double table_row(struct pdf *p, const struct block *b, char *const *cells, const double *cw, bool bold,
                        bool measure_only)
{
	double x = MARGIN, rh = 0, w, h;
	PangoLayout *ls[MAX_COLS];
	for (size_t c = 0; c < b->ncols; c++) {
		ls[c] = layout(p, cells[c], bold ? "Sans Bold 8" : "Sans 8", cw[c] - 2 * PAD);
		pango_layout_set_alignment(ls[c], b->align[c] == VM_DOC_RIGHT ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_LEFT);
		size_of(ls[c], &w, &h);
		rh = h > rh ? h : rh;
	}
	rh += 2 * PAD;
	for (size_t c = 0; c < b->ncols; c++) {
		if (!measure_only)
			show(p, ls[c], x + PAD, p->y + PAD);
		x += cw[c];
		g_object_unref(ls[c]);
	}
	return rh;
}

static void rule(struct pdf *p, double y, double width)
{
	if (!p->draw)
		return;
	cairo_set_line_width(p->cr, width);
	cairo_move_to(p->cr, MARGIN, y);
	cairo_line_to(p->cr, PAGE_W - MARGIN, y);
	cairo_stroke(p->cr);
}

static void table(struct pdf *p, const struct block *b)
{
	/* Natural widths; if they do not fit, the left-aligned (text)
	 * columns give up room in proportion and wrap, numbers never do. */
	double cw[MAX_COLS], w, h, total = 0, text = 0;
	for (size_t c = 0; c < b->ncols; c++) {
		PangoLayout *l = layout(p, b->headers[c], "Sans Bold 8", 0);
		size_of(l, &w, &h);
		g_object_unref(l);
		cw[c] = w;
		for (size_t r = 0; r < b->nrows; r++) {
			l = layout(p, b->rows[r].cells[c], b->rows[r].total ? "Sans Bold 8" : "Sans 8", 0);
			size_of(l, &w, &h);
			g_object_unref(l);
			cw[c] = w > cw[c] ? w : cw[c];
		}
		cw[c] += 2 * PAD + 1;
		total += cw[c];
		text += b->align[c] == VM_DOC_LEFT ? cw[c] : 0;
	}
	if (total > CONTENT_W && text > 0) {
		/* Water-filling over the text columns: those narrower than a
		 * fair share of the room left keep their width, the others
		 * share the rest equally and wrap. */
		double room = CONTENT_W - (total - text);
		bool fixed[MAX_COLS] = {false};
		size_t k = 0;
		for (size_t c = 0; c < b->ncols; c++)
			k += b->align[c] == VM_DOC_LEFT;
		for (bool changed = true; changed && k > 0;) {
			changed = false;
			double fair = room / (double)k;
			for (size_t c = 0; c < b->ncols; c++)
				if (b->align[c] == VM_DOC_LEFT && !fixed[c] && cw[c] <= fair) {
					fixed[c] = true;
					room -= cw[c];
					k--;
					changed = true;
				}
		}
		for (size_t c = 0; c < b->ncols && k > 0; c++)
			if (b->align[c] == VM_DOC_LEFT && !fixed[c])
				cw[c] = room / (double)k > 24 ? room / (double)k : 24;
	}
	double hh = table_row(p, b, b->headers, cw, true, true);
	p->y += p->y > TOP ? 8 : 0;
	/* The header and at least one row together. */
	need(p, hh + (b->nrows ? table_row(p, b, b->rows[0].cells, cw, b->rows[0].total, true) : 0));
	table_row(p, b, b->headers, cw, true, false);
	p->y += hh;
	rule(p, p->y, 0.8);
	for (size_t r = 0; r < b->nrows; r++) {
		double rh = table_row(p, b, b->rows[r].cells, cw, b->rows[r].total, true);
		if (p->y + rh > BOTTOM) {
			new_page(p);
			table_row(p, b, b->headers, cw, true, false);
			p->y += hh;
			rule(p, p->y, 0.8);
		}
		if (b->rows[r].total)
			rule(p, p->y, 1.2);
		table_row(p, b, b->rows[r].cells, cw, b->rows[r].total, false);
		p->y += rh;
	}
}

/* A bar chart: the caption, then a row per bar: its label (right
 * aligned in a column), the bar and its text. */
static void pdf_bars(struct pdf *p, const struct block *b)
{
	if (b->text[0])
		text_block(p, b->text, "Sans Bold 9", 8, 14);
	else
		p->y += p->y > TOP ? 8 : 0;
	double lw = 0, tw = 0, w, h;
	for (size_t i = 0; i < b->nrows; i++) {
		PangoLayout *l = layout(p, b->rows[i].cells[0], "Sans 8", 0);
		size_of(l, &w, &h);
		lw = w > lw ? w : lw;
		g_object_unref(l);
		l = layout(p, b->rows[i].cells[1], "Sans 8", 0);
		size_of(l, &w, &h);
		tw = w > tw ? w : tw;
		g_object_unref(l);
	}
	lw = lw > CONTENT_W * 0.3 ? CONTENT_W * 0.3 : lw;
	tw = tw > CONTENT_W * 0.3 ? CONTENT_W * 0.3 : tw;
	double area = CONTENT_W - lw - tw - 16;
	uint64_t max = bars_max(b);
	for (size_t i = 0; i < b->nrows; i++) {
		PangoLayout *a = layout(p, b->rows[i].cells[0], "Sans 8", lw);
		pango_layout_set_alignment(a, PANGO_ALIGN_RIGHT);
		pango_layout_set_ellipsize(a, PANGO_ELLIPSIZE_END);
		PangoLayout *t = layout(p, b->rows[i].cells[1], "Sans 8", 0);
		double ha, ht;
		size_of(a, &w, &ha);
		size_of(t, &w, &ht);
		double rh = (ha > ht ? ha : ht) + 3;
		need(p, rh);
		double len = max ? area * (double)magnitude(b->values[i]) / (double)max : 0;
		if (b->values[i] && len < 0.5)
			len = 0.5;
		show(p, a, MARGIN, p->y);
		if (p->draw) {
			if (b->values[i] < 0)
				cairo_set_source_rgb(p->cr, 0.75, 0.31, 0.30);
			else
				cairo_set_source_rgb(p->cr, 0.31, 0.51, 0.74);
			cairo_rectangle(p->cr, MARGIN + lw + 6, p->y + 1.5, len, rh - 4);
			cairo_fill(p->cr);
			cairo_set_source_rgb(p->cr, 0, 0, 0);
		}
		show(p, t, MARGIN + lw + 10 + len, p->y);
		p->y += rh;
		g_object_unref(a);
		g_object_unref(t);
	}
}

/* A line chart: caption, the plot in a frame, the axis texts and the
 * legend, kept on one page. */
static void pdf_series(struct pdf *p, const struct block *b)
{
	char t[4][128];
	series_texts(b, t);
	double lo, hi, ph = 130, left = 60, pw = CONTENT_W - left - 10;
	series_range(b, &lo, &hi);
	double need_h = ph + 24 + 11 * (double)b->nseries + (b->text[0] ? 30 : 8);
	need(p, need_h);
	if (b->text[0])
		text_block(p, b->text, "Sans Bold 9", 8, 0);
	else
		p->y += 8;
	double x0 = MARGIN + left, y0 = p->y + 4;
	char top[160];
	snprintf(top, sizeof top, "%.4g%s%s", hi, t[2][0] ? " " : "", t[2]);
	PangoLayout *l = layout(p, top, "Sans 7", left - 4);
	pango_layout_set_alignment(l, PANGO_ALIGN_RIGHT);
	show(p, l, MARGIN, y0);
	g_object_unref(l);
	snprintf(top, sizeof top, "%.4g", lo);
	l = layout(p, top, "Sans 7", left - 4);
	pango_layout_set_alignment(l, PANGO_ALIGN_RIGHT);
	show(p, l, MARGIN, y0 + ph - 9);
	g_object_unref(l);
	l = layout(p, t[0], "Sans 7", 0);
	show(p, l, x0, y0 + ph + 2);
	g_object_unref(l);
	l = layout(p, t[1], "Sans 7", pw);
	pango_layout_set_alignment(l, PANGO_ALIGN_RIGHT);
	show(p, l, x0, y0 + ph + 2);
	g_object_unref(l);
#define PY(v) (y0 + ph - ((v)-lo) / (hi - lo) * ph)
	double sx = b->npoints > 1 ? pw / (double)(b->npoints - 1) : 0;
	if (p->draw) {
		cairo_set_line_width(p->cr, 0.5);
		cairo_set_source_rgb(p->cr, 0.8, 0.8, 0.8);
		cairo_rectangle(p->cr, x0, y0, pw, ph);
		cairo_stroke(p->cr);
		if (isfinite(b->line)) {
			cairo_set_source_rgb(p->cr, 0.75, 0.31, 0.30);
			cairo_move_to(p->cr, x0, PY(b->line));
			cairo_line_to(p->cr, x0 + pw, PY(b->line));
			cairo_stroke(p->cr);
		}
		cairo_set_line_width(p->cr, 1);
		for (size_t k = 0; k < b->nseries; k++) {
			const double *v = b->points + k * b->npoints;
			static const double dash[] = {3, 2}, dot[] = {1, 1.5};
			cairo_set_dash(p->cr, k == 2 || k == 3 ? dash : k >= 4 ? dot : NULL, k >= 2 ? 2 : 0, 0);
			cairo_set_source_rgb(p->cr, series_rgb[k][0], series_rgb[k][1], series_rgb[k][2]);
			bool pen = false;
			for (size_t i = 0; i < b->npoints; i++) {
				if (!isfinite(v[i])) {
					pen = false;
					continue;
				}
				if (pen)
					cairo_line_to(p->cr, x0 + sx * (double)i, PY(v[i]));
				else
					cairo_move_to(p->cr, x0 + sx * (double)i, PY(v[i]));
				pen = true;
			}
			cairo_stroke(p->cr);
			if (b->names[k]) {
				double ly = y0 + ph + 18 + 11 * (double)k;
				cairo_move_to(p->cr, x0, ly);
				cairo_line_to(p->cr, x0 + 16, ly);
				cairo_stroke(p->cr);
			}
			cairo_set_dash(p->cr, NULL, 0, 0);
		}
		cairo_set_source_rgb(p->cr, 0, 0, 0);
	}
#undef PY
	if (isfinite(b->line) && t[3][0]) {
		double ly = y0 + ph - (b->line - lo) / (hi - lo) * ph;
		l = layout(p, t[3], "Sans 7", 0);
		show(p, l, x0 + 3, ly - 10 < y0 ? ly + 1 : ly - 10); /* below a line at the top */
		g_object_unref(l);
	}
	for (size_t k = 0; k < b->nseries; k++)
		if (b->names[k]) {
			l = layout(p, b->names[k], "Sans 7", 0);
			show(p, l, x0 + 20, y0 + ph + 13 + 11 * (double)k);
			g_object_unref(l);
		}
	p->y = y0 + ph + 16 + 11 * (double)b->nseries;
}

static void render(struct pdf *p)
{
	p->page = 0;
	new_page(p);
	text_block(p, p->d->title, "Sans Bold 16", 0, 0);
	p->y += 6;
	for (size_t i = 0; i < p->d->n;) {
		const struct block *b = &p->d->blocks[i];
		switch (b->kind) {
		case B_HEADING:
			text_block(p, b->text, "Sans Bold 12", 14, 40);
			i++;
			break;
		case B_PARAGRAPH:
			text_block(p, b->text, "Sans 9", 6, 0);
			i++;
			break;
		case B_FIELD: i = fields(p, i); break;
		case B_TABLE:
			table(p, b);
			i++;
			break;
		case B_BARS:
			pdf_bars(p, b);
			i++;
			break;
		case B_SERIES:
			pdf_series(p, b);
			i++;
			break;
		}
	}
	/* The last page is emitted by cairo_surface_finish(): a show_page
	 * here would add an empty one. */
}

static cairo_status_t discard(void *closure, const unsigned char *data, unsigned int length)
{
	(void)closure, (void)data, (void)length;
	return CAIRO_STATUS_SUCCESS;
}

int vm_doc_write_pdf(const struct vm_doc *d, const char *path, int *pages, char *err, size_t errsize)
{
	struct pdf p = {.d = d};
	/* pass 1: count the pages */
	cairo_surface_t *s = cairo_pdf_surface_create_for_stream(discard, NULL, PAGE_W, PAGE_H);
	p.cr = cairo_create(s);
	render(&p);
	p.pages = p.page;
	cairo_destroy(p.cr);
	cairo_surface_destroy(s);
	/* pass 2: draw them */
	char *tmp = vm_xasprintf("%s.tmp", path);
	s = cairo_pdf_surface_create(tmp, PAGE_W, PAGE_H);
	cairo_status_t st = cairo_surface_status(s);
	if (st == CAIRO_STATUS_SUCCESS) {
		cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, d->title);
		cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "vmeter");
		p.cr = cairo_create(s);
		p.draw = true;
		render(&p);
		cairo_destroy(p.cr);
		cairo_surface_finish(s);
		st = cairo_surface_status(s);
	}
	cairo_surface_destroy(s);
	if (st != CAIRO_STATUS_SUCCESS) {
		snprintf(err, errsize, "cannot write '%s': %s", tmp, cairo_status_to_string(st));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errsize, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if (pages)
		*pages = p.pages;
	return 0;
}
