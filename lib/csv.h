/* CSV cells for finance's spreadsheets (RFC 4180), shared by the
 * exports of invoices and reports. */
#ifndef VM_CSV_H
#define VM_CSV_H

#include <stdio.h>

/* Writes text s as one cell to f: quoted when it holds a comma, a quote,
 * CR or LF (quotes doubled); a cell a spreadsheet would run as a formula
 * (OWASP's list: it starts with '=', '+', '-', '@', a tab or a CR; a VM
 * named "=cmd|..." in its owner's metadata) is quoted with a leading
 * single quote, which keeps it text.  NULL writes an empty cell.  Only
 * for text: a negative number is a number and must be written as one. */
void vm_csv_text(FILE *f, const char *s);

#endif
