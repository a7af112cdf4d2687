/* Documents for people: invoices, statements and reports, built once as a
 * sequence of blocks (headings, paragraphs, label/value fields, tables of
 * text) and written as HTML or as a paged PDF.
 *
 * The callers (billing, reports) format every number themselves, so the
 * money in a document is the text billing computed with integers; the
 * geometry of a page is this module's alone (it is where floating point
 * lives, not in billing/).  PDF goes through pango and cairo: text of any
 * script with font fallback, A4 pages, a table's header repeated on each
 * page it spans, "page N of M" on every page. */
#ifndef VM_DOC_H
#define VM_DOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum vm_doc_align { VM_DOC_LEFT, VM_DOC_RIGHT };

struct vm_doc;

/* A new document with a title (the HTML <title>, the PDF's metadata and
 * running header).  Strings given to any function are copied. */
struct vm_doc *vm_doc_new(const char *title);
void vm_doc_free(struct vm_doc *d);

void vm_doc_heading(struct vm_doc *d, const char *text);
void vm_doc_paragraph(struct vm_doc *d, const char *text);
/* A row of a label/value block ("Invoice number", "2026-000042"). */
void vm_doc_field(struct vm_doc *d, const char *label, const char *value);

/* Starts a table of n columns (1..32) with their headers and alignment
 * (NULL: all left); the rows that follow belong to it. */
void vm_doc_table(struct vm_doc *d, size_t n, const char *const *headers, const enum vm_doc_align *align);
/* A row of the current table: n cells (NULL cells are empty). */
void vm_doc_row(struct vm_doc *d, const char *const *cells);
/* A total row: set apart (bold, a rule above). */
void vm_doc_total(struct vm_doc *d, const char *const *cells);

/* A horizontal bar chart under a caption (may be NULL): n bars (at most
 * VM_DOC_MAX_BARS; more are left out), each with its label, its value in
 * any integer unit (the caller's: cents, VM-minutes) and the text printed
 * beside it (the caller formats the number).  Bars are as long as |value|
 * against the largest |value|; a negative value's bar is drawn in another
 * colour.  Inline SVG in HTML (integer geometry), drawn by cairo in the
 * PDF.  The arrays are copied. */
#define VM_DOC_MAX_BARS 64
void vm_doc_bars(struct vm_doc *d, const char *caption, size_t n, const char *const *labels, const int64_t *values,
                 const char *const *texts);

/* A line chart under a caption (may be NULL): up to VM_DOC_MAX_SERIES
 * series of n points each (at most VM_DOC_MAX_POINTS; more are left
 * out), equally spaced from x_from to x_to (the texts under the axis);
 * NaN is a gap.  Series 0 is drawn solid in the first colour, 1 solid in
 * the second, 2 and 3 dashed in the second (a forecast's band), 4 and 5
 * dotted grey.  names[i] (NULL: not in the legend) label the series;
 * `line` (NaN: none) is a horizontal rule at that value, labelled
 * line_label (a capacity).  The y axis runs from 0 (or the lowest value,
 * if negative) to the highest value or the line, its top labelled with
 * that value and `unit`.  The caller formats nothing but the texts; the
 * arrays are copied.  Inline SVG in HTML, drawn by cairo in the PDF. */
#define VM_DOC_MAX_SERIES 6
#define VM_DOC_MAX_POINTS 2000
void vm_doc_series(struct vm_doc *d, const char *caption, size_t n_series, const char *const *names, size_t n,
                   const double *const *ys, const char *x_from, const char *x_to, const char *unit, double line,
                   const char *line_label);

/* A complete HTML document (UTF-8, text escaped). Returns 0 or -1 on a
 * write error. */
int vm_doc_write_html(const struct vm_doc *d, FILE *f);

/* A PDF file at path (written to path.tmp, then renamed).  *pages: how
 * many pages it has (may be NULL).  Returns 0, or -1 with why in err. */
int vm_doc_write_pdf(const struct vm_doc *d, const char *path, int *pages, char *err, size_t errsize);

#endif
