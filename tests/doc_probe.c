/* Drives lib/doc for tests/integration/doc.sh: an invoice-like document
 * of ROWS table rows written as PDF and HTML; prints the PDF's pages.
 *
 *   doc_probe OUT.pdf OUT.html ROWS [chart]
 *
 * With "chart", a line chart (vm_doc_series()) comes before the table. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "doc.h"

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: doc_probe OUT.pdf OUT.html ROWS [chart]\n");
		return 2;
	}
	int rows = atoi(argv[3]);
	struct vm_doc *d = vm_doc_new("Invoice 2026-000042: ACME Łódź & Москва");
	vm_doc_field(d, "Tenant", "ACME Łódź & Москва");
	vm_doc_field(d, "Period", "2026-03-01 00:00 to 2026-04-01 00:00 (Europe/Berlin)");
	vm_doc_field(d, "A label longer than most labels are", "short");
	/* with "chart": a line chart, the data with a gap, a forecast with its
	 * band from the last point on, a capacity line */
	double data[10], fc[10], lo[10], hi[10];
	for (int i = 0; i < 10; i++) {
		data[i] = i < 6 && i != 3 ? 1 + i : NAN;
		fc[i] = i >= 5 ? 1 + i : NAN;
		lo[i] = i >= 5 ? 1 + i - 0.5 * (i - 5) : NAN;
		hi[i] = i >= 5 ? 1 + i + 0.5 * (i - 5) : NAN;
	}
	const double *ys[] = {data, fc, lo, hi};
	static const char *const names[] = {"demand & <peak>", "forecast", "band", NULL};
	if (argc == 5)
		vm_doc_series(d, "CPU & <demand>", 4, names, 10, ys, "2026-10-01", "2026-10-10", "cores", 12,
		              "usable 12 cores");
	vm_doc_heading(d, "Lines");
	static const char *const head[] = {"Project", "VM", "Meter", "Quantity", "Rate", "Amount"};
	static const enum vm_doc_align al[] = {VM_DOC_LEFT,  VM_DOC_LEFT,  VM_DOC_LEFT,
	                                       VM_DOC_RIGHT, VM_DOC_RIGHT, VM_DOC_RIGHT};
	vm_doc_table(d, 6, head, al);
	for (int i = 0; i < rows; i++) {
		char vm[32], q[32], a[32];
		snprintf(vm, sizeof vm, "vm-%04d", i);
		snprintf(q, sizeof q, "%d.000", 720 + i);
		snprintf(a, sizeof a, "%d.%02d", 8 + i / 100, i % 100);
		const char *cells[] = {i % 3 ? "checkout"
		                             : "a project with a rather long name that must wrap somewhere",
		                       vm,
		                       "vcpu",
		                       q,
		                       "0.012 / vcpu-hour",
		                       a};
		vm_doc_row(d, cells);
	}
	const char *total[] = {"Total", NULL, NULL, NULL, NULL, "1234.56"};
	vm_doc_total(d, total);
	vm_doc_paragraph(d, "Coverage: 43,180 of 43,200 minutes had samples. <script>alert(1)</script>");
	/* bars: the largest, a half, a negative one, one too small to see, a zero */
	static const char *const labels[] = {"shop", "data & <b>ml</b>", "credits", "tiny", "none"};
	static const int64_t values[] = {15889, 7944, -3000, 1, 0};
	static const char *const texts[] = {"158.89 EUR", "79.44 EUR", "-30.00 EUR", "0.01 EUR", "0.00 EUR"};
	vm_doc_bars(d, "Amount by project", 5, labels, values, texts);
	int pages = 0;
	char err[512];
	if (vm_doc_write_pdf(d, argv[1], &pages, err, sizeof err) < 0) {
		fprintf(stderr, "doc_probe: %s\n", err);
		vm_doc_free(d);
		return 1;
	}
	FILE *f = fopen(argv[2], "w");
	if (!f || vm_doc_write_html(d, f) < 0 || fclose(f) != 0) {
		perror(argv[2]);
		vm_doc_free(d);
		return 1;
	}
	vm_doc_free(d);
	printf("%d\n", pages);
	return 0;
}
