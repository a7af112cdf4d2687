/* Fuzz target for plan files: lib/cfgtree's syntax and billing/plan's
 * checks.  Besides not crashing or leaking, every input either loads a
 * catalog that keeps the promises of plan.h (versions in order, not
 * overlapping; tiers growing, the last open; prices not negative) or is
 * refused with a message that names the file and a line.
 *
 * Built with clang -fsanitize=fuzzer (-DVM_LIBFUZZER) this is a libFuzzer
 * target; built without, tests/fuzz/replay.c drives it (replay.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "replay.h"

#define CHECK FUZZ_CHECK

static void check_plan(const struct bill_plan *p)
{
	CHECK(p->n_versions > 0 && p->currency && p->name[0]);
	for (size_t i = 0; i < p->n_versions; i++) {
		const struct bill_version *v = &p->versions[i];
		CHECK(v->from.set && v->n_charges > 0 && v->minimum.n >= 0);
		CHECK(!v->to.set || v->to.t > v->from.t);
		if (i + 1 < p->n_versions)
			CHECK(v->to.set && v->to.t <= p->versions[i + 1].from.t);
		for (size_t j = 0; j < v->n_charges; j++) {
			const struct bill_charge *ch = &v->charges[j];
			CHECK(ch->per > 0 && ch->price.n >= 0 && bill_meter_name(ch->meter));
			bool tiered = ch->model == BILL_GRADUATED || ch->model == BILL_VOLUME;
			CHECK(tiered == (ch->n_tiers > 0));
			for (size_t k = 0; k < ch->n_tiers; k++) {
				CHECK(ch->tiers[k].price.n >= 0);
				CHECK(k == 0 || ch->tiers[k].upto > ch->tiers[k - 1].upto);
			}
			CHECK(!tiered || ch->tiers[ch->n_tiers - 1].upto == INT64_MAX);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const classes[] = {"internet", "internal"};
	struct bill_catalog *c = bill_catalog_new();
	char err[512] = "";
	bill_catalog_set_classes(c, classes, 2);
	if (bill_catalog_parse(c, "fuzz.plan", (const char *)data, size, err, sizeof err) == 0) {
		size_t n;
		const struct bill_plan *p = bill_catalog_plans(c, &n);
		for (size_t i = 0; i < n; i++)
			check_plan(&p[i]);
		if (bill_catalog_check(c, err, sizeof err) < 0)
			CHECK(strncmp(err, "fuzz.plan:", 10) == 0);
	} else {
		CHECK(strncmp(err, "fuzz.plan:", 10) == 0 && strlen(err) > 12);
	}
	bill_catalog_free(c);
	return 0;
}

static const struct fuzz_token tokens[] = {
    {"{", 1},
    {"}", 1},
    {" = ", 3},
    {"\"", 1},
    {"\n", 1},
    {"#", 1},
    {"\\", 1},
    {";", 1},
    {"plan p {", 8},
    {"tenant t {", 10},
    {"version v {", 11},
    {"charge vcpu {", 13},
    {"tier {", 6},
    {"from = 2026-01-01", 17},
    {"to = 2026-02-01", 15},
    {"price = 0.5", 11},
    {"per = GiB", 9},
    {"model = graduated", 17},
    {"up-to = 10", 10},
    {"currency = EUR", 14},
    {"assign p {", 10},
    {"2026-03-01T06:30+01:00", 22},
    {"9223372036854775807", 19},
    {"-1", 2},
    {"\xff", 1},
    {"\x00", 1},
};

const struct fuzz_target fuzz_target = {"fuzz_plan", tokens, sizeof tokens / sizeof *tokens, 8192, NULL};
