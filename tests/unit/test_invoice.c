/* billing/invoice: exports of a small invoice computed by hand: the CSV
 * byte for byte, the JSON read back, HTML escaped, a PDF written; exact
 * quantities; formula cells kept as text; a total out of range refused. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "invoice.h"

#define CENT INT64_C(10000000)

static const struct vm_invoice_line lines[] = {
    /* 1 vCPU for 720.5 h at 0.012 = 8.646 -> 8.65 */
    {VM_INVOICE_LINE_USAGE,
     "web",
     "11111111-1111-4111-8111-111111111111",
     "web1",
     "vcpu",
     43230,
     60,
     "vcpu-hour",
     {12000000},
     {865 * CENT},
     "standard",
     "2026-h1",
     43230,
     43180,
     20,
     NULL},
    /* 1.5 GiB out at 0.05 / GiB = 0.075 -> 0.08 */
    {VM_INVOICE_LINE_USAGE,
     "web",
     "11111111-1111-4111-8111-111111111111",
     "web1",
     "net.internet.tx",
     INT64_C(1610612736),
     INT64_C(1) << 30,
     "GiB",
     {50000000},
     {8 * CENT},
     "standard",
     "2026-h1",
     0,
     0,
     0,
     "covers 2026-02-27 10:00 to 12:00"},
    {VM_INVOICE_LINE_HOST_COST,
     "db, \"main\"",
     "22222222-2222-4222-8222-222222222222",
     "=HYPERLINK(\"x\")",
     "hv1",
     0,
     1,
     NULL,
     {0},
     {1234 * CENT},
     NULL,
     NULL,
     0,
     0,
     0,
     NULL},
    {VM_INVOICE_LINE_MINIMUM,
     NULL,
     NULL,
     NULL,
     NULL,
     0,
     1,
     NULL,
     {0},
     {93 * CENT},
     "standard",
     "2026-h1",
     0,
     0,
     0,
     NULL},
};

static const struct vm_invoice inv_tpl = {
    NULL,  "ACME <Corp>", "Europe/Berlin", "2026-03", "2026-03-01 00:00", "2026-04-01 00:00", NULL, VM_ROUND_HALF_UP,
    false, true,          lines,           4};

static char *capture(int (*fn)(const struct vm_invoice *, FILE *), const struct vm_invoice *inv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(fn(inv, f), 0);
	fclose(f);
	return buf;
}

static void test_quantity(void **state)
{
	(void)state;
	char b[48];
	assert_string_equal(vm_quantity_text(43230, 60, 6, b), "720.5");
	assert_string_equal(vm_quantity_text(43200, 60, 6, b), "720");
	assert_string_equal(vm_quantity_text(1, 3, 6, b), "0.333333");
	assert_string_equal(vm_quantity_text(2, 3, 6, b), "0.666667");
	assert_string_equal(vm_quantity_text(1, 1 << 30, 6, b), "0");
	assert_string_equal(vm_quantity_text(-1, 1 << 30, 6, b), "0");
	assert_string_equal(vm_quantity_text(-3, 2, 0, b), "-2");
	assert_string_equal(vm_quantity_text(INT64_MAX, 1, 6, b), "9223372036854775807");
	assert_string_equal(vm_quantity_text(INT64_MAX, 1000, 3, b), "9223372036854775.807");
}

static void test_csv(void **state)
{
	(void)state;
	struct vm_invoice inv = inv_tpl;
	inv.currency = vm_currency_find("EUR");
	char *csv = capture(vm_invoice_csv, &inv);
	const char *want =
	    "invoice,status,tenant,period,period_from,period_to,time_zone,currency,kind,project,vm_uuid,vm_name,meter,"
	    "quantity,unit,quantity_base,per,rate,amount,plan,version,minutes_billed,minutes_sampled,minutes_lost,"
	    "note\r\n"
	    ",draft,ACME <Corp>,2026-03,2026-03-01 00:00,2026-04-01 00:00,Europe/Berlin,EUR,usage,web,"
	    "11111111-1111-4111-8111-111111111111,web1,vcpu,720.5,vcpu-hour,43230,60,0.012,8.65,standard,2026-h1,43230,"
	    "43180,20,\r\n"
	    ",draft,ACME <Corp>,2026-03,2026-03-01 00:00,2026-04-01 00:00,Europe/Berlin,EUR,usage,web,"
	    "11111111-1111-4111-8111-111111111111,web1,net.internet.tx,1.5,GiB,1610612736,1073741824,0.05,0.08,"
	    "standard,"
	    "2026-h1,0,0,0,covers 2026-02-27 10:00 to 12:00\r\n"
	    ",draft,ACME <Corp>,2026-03,2026-03-01 00:00,2026-04-01 00:00,Europe/Berlin,EUR,host-cost,\"db, "
	    "\"\"main\"\"\",22222222-2222-4222-8222-222222222222,\"'=HYPERLINK(\"\"x\"\")\",hv1,0,,0,1,0.00,12.34,,,0,"
	    "0,"
	    "0,\r\n"
	    ",draft,ACME <Corp>,2026-03,2026-03-01 00:00,2026-04-01 "
	    "00:00,Europe/Berlin,EUR,minimum,,,,,0,,0,1,0.00,0.93,"
	    "standard,2026-h1,0,0,0,\r\n";
	assert_string_equal(csv, want);
	free(csv);
}

static void test_json(void **state)
{
	(void)state;
	struct vm_invoice inv = inv_tpl;
	inv.currency = vm_currency_find("EUR");
	inv.number = "2026-000042";
	char *text = capture(vm_invoice_json, &inv);
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("not JSON: %s", je.text);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "final");
	assert_string_equal(json_string_value(json_object_get(j, "tenant")), "ACME <Corp>");
	/* 8.65 + 0.08 + 12.34 + 0.93 */
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "total"), "text")), "22.00");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "nano")), 2200 * CENT);
	json_t *l = json_object_get(j, "lines");
	assert_int_equal(json_array_size(l), 4);
	json_t *l0 = json_array_get(l, 0);
	assert_string_equal(json_string_value(json_object_get(l0, "quantity")), "720.5");
	assert_string_equal(json_string_value(json_object_get(json_object_get(l0, "rate"), "text")), "0.012000000");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(l0, "coverage"), "minutes_lost")), 20);
	assert_true(json_is_null(json_object_get(json_array_get(l, 3), "vm_uuid")));
	json_decref(j);
	free(text);
}

static void test_html_pdf(void **state)
{
	(void)state;
	struct vm_invoice inv = inv_tpl;
	inv.currency = vm_currency_find("EUR");
	char *html = capture(vm_invoice_html, &inv);
	assert_non_null(strstr(html, "Draft invoice 2026-03: ACME &lt;Corp&gt;"));
	assert_non_null(strstr(html, "<td class=\"r\">22.00</td>"));
	assert_non_null(strstr(html, "43180/43230 (lost)"));
	assert_null(strstr(html, "<Corp>"));
	free(html);
	char path[] = "/tmp/test_invoice.XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	int pages = 0;
	char err[256];
	assert_int_equal(vm_invoice_pdf(&inv, path, &pages, err, sizeof err), 0);
	assert_int_equal(pages, 1);
	FILE *f = fopen(path, "rb");
	char magic[5] = {0};
	assert_int_equal(fread(magic, 1, 4, f), 4);
	fclose(f);
	assert_string_equal(magic, "%PDF");
	unlink(path);
	assert_int_equal(vm_invoice_pdf(&inv, "/nonexistent/dir/x.pdf", &pages, err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/x.pdf"));
}

static void test_overflow(void **state)
{
	(void)state;
	struct vm_invoice_line big[2] = {lines[3], lines[3]};
	big[0].amount.n = big[1].amount.n = INT64_MAX / 2 + 1;
	struct vm_invoice inv = inv_tpl;
	inv.currency = vm_currency_find("EUR");
	inv.lines = big;
	inv.n_lines = 2;
	vm_money t;
	assert_int_equal(vm_invoice_total(&inv, &t), -1);
	FILE *f = fopen("/dev/null", "w");
	assert_int_equal(vm_invoice_csv(&inv, f), -1);
	assert_int_equal(vm_invoice_json(&inv, f), -1);
	assert_int_equal(vm_invoice_html(&inv, f), -1);
	fclose(f);
	assert_string_equal(vm_invoice_line_kind_name(VM_INVOICE_LINE_CREDIT), "credit");
	assert_null(vm_invoice_line_kind_name((enum vm_invoice_line_kind)17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quantity), cmocka_unit_test(test_csv),      cmocka_unit_test(test_json),
	    cmocka_unit_test(test_html_pdf), cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
