/* The collector's sampler driven with made-up samples and events: deltas,
 * resets, restarts, devices that go missing, gaps, and what ends up in the
 * per-minute rows.  Output is recorded through a struct col_sink. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binio.h"
#include "log.h"
#include "sampler.h"
#include "vtime.h"
#include "xalloc.h"

#define S(x) ((int64_t)(x)*VM_NS_PER_SEC)
#define T0 S(1800000000 - 1800000000 % 60)
#define UUID "aaaaaaaa-0000-4000-8000-000000000001"

struct trow {
	char uuid[37];
	struct vm_db_traffic tr;
	struct vm_db_traffic_class classes[4];
};

struct rec {
	struct trow traffic[16];
	size_t n_traffic;
	struct vm_db_host_capture hcap[16];
	size_t n_hcap;
	struct vm_usage_row rows[64];
	size_t n_rows;
	struct vm_usage_row host_rows[64];
	size_t n_host_rows;
	char events[16][32];
	size_t n_events;
	size_t n_inv;
	int inv_rc; /* what the inventory sink answers */
	struct {
		int64_t from, to;
		char reason[64];
	} losses[8];
	size_t n_losses;
	struct vm_owner owner; /* of the last inventory */
};

static void r_usage(void *arg, const char *uuid, const struct vm_usage_row *row)
{
	struct rec *r = arg;
	if (!uuid) {
		assert_true(r->n_host_rows < 64);
		r->host_rows[r->n_host_rows++] = *row;
		return;
	}
	assert_true(r->n_rows < 64);
	r->rows[r->n_rows++] = *row;
}

static int r_inventory(void *arg, struct vm_inventory *inv, int64_t at)
{
	struct rec *r = arg;
	r->n_inv++;
	r->owner = inv->owner;
	free(inv);
	return r->inv_rc;
}

static void r_loss(void *arg, const char *uuid, int64_t from, int64_t to, const char *reason)
{
	struct rec *r = arg;
	assert_true(r->n_losses < 8);
	r->losses[r->n_losses].from = from;
	r->losses[r->n_losses].to = to;
	snprintf(r->losses[r->n_losses++].reason, 64, "%s", reason);
}

static void r_event(void *arg, const char *uuid, int64_t at, const char *event, const char *detail)
{
	struct rec *r = arg;
	if (r->n_events < 16)
		snprintf(r->events[r->n_events++], 32, "%s%s%s", event, strcmp(detail, "observed") == 0 ? ":" : "",
		         strcmp(detail, "observed") == 0 ? detail : "");
}

static void r_host(void *arg, const struct vm_host_info *h, int64_t at) {}

static void r_traffic(void *arg, const struct vm_db_traffic *tr)
{
	struct rec *r = arg;
	assert_true(r->n_traffic < 16);
	assert_true(tr->n_classes <= 4);
	struct trow *t = &r->traffic[r->n_traffic++];
	snprintf(t->uuid, sizeof t->uuid, "%s", tr->uuid);
	t->tr = *tr;
	if (tr->n_classes)
		memcpy(t->classes, tr->classes, tr->n_classes * sizeof *tr->classes);
	t->tr.classes = t->classes;
}

static void r_host_capture(void *arg, const struct vm_db_host_capture *hc)
{
	struct rec *r = arg;
	assert_true(r->n_hcap < 16);
	r->hcap[r->n_hcap++] = *hc;
}

struct fixture {
	struct vm_conf conf;
	struct rec rec;
	struct col_sampler *s;
};

static int setup(void **state)
{
	vm_log_set_level(VM_LOG_ERR);
	struct fixture *f = vm_xcalloc(1, sizeof *f);
	f->conf.interval_s = 10;
	f->conf.max_gap_s = 60;
	f->conf.max_interpolate_s = 3600;
	f->conf.host_name = "hv";
	f->conf.libvirt_uri = "test:///default";
	struct col_sink sink = {r_usage, r_inventory, r_event, r_host, &f->rec, r_traffic, r_host_capture, r_loss};
	f->s = col_sampler_new(&f->conf, &sink, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->s)
		col_sampler_free(f->s, true);
	free(f);
	return 0;
}

/* Finishes: closes every minute so that all rows are recorded. */
static void finish(struct fixture *f)
{
	col_sampler_free(f->s, true);
	f->s = NULL;
}

static struct col_vm_sample smp(int id, int64_t t, uint64_t cpu)
{
	struct col_vm_sample s;
	memset(&s, 0, sizeof s);
	snprintf(s.uuid, sizeof s.uuid, UUID);
	snprintf(s.name, sizeof s.name, "vm1");
	s.id = id;
	s.state = VIR_DOMAIN_RUNNING;
	s.t_ns = t;
	s.v[COL_CPU_NS] = cpu;
	s.have = 1u << COL_CPU_NS;
	return s;
}

static void add_disk(struct col_vm_sample *s, const char *name, uint64_t wr)
{
	struct col_dev_sample *d = &s->disks[s->n_disks++];
	snprintf(d->name, sizeof d->name, "%s", name);
	d->v[COL_DISK_WR_BYTES] = wr;
	d->have = 1u << COL_DISK_WR_BYTES;
}

/* A sample whose monotonic time says that as much time passed as the wall
 * clock does (MONO0 is an arbitrary origin). */
#define MONO0 S(1000)
static struct col_vm_sample smp_mono(int id, int64_t t, uint64_t cpu)
{
	struct col_vm_sample s = smp(id, t, cpu);
	s.mono_ns = MONO0 + (t - T0);
	return s;
}

/* Saves f's sampler, frees it without closing its minutes (a stop or a
 * crash after the save) and starts a new one from the saved state. */
static void restart(struct fixture *f)
{
	struct vm_binw w = {0};
	col_sampler_save(f->s, &w);
	col_sampler_free(f->s, false);
	struct col_sink sink = {r_usage, r_inventory, r_event, r_host, &f->rec, r_traffic, r_host_capture, r_loss};
	f->s = col_sampler_new(&f->conf, &sink, NULL);
	char err[256];
	assert_int_equal(col_sampler_resume(f->s, w.p, w.len, err, sizeof err), 0);
	vm_binw_release(&w);
}

static void pass(struct fixture *f, const struct col_vm_sample *s)
{
	col_sampler_pass_begin(f->s, s->t_ns);
	col_sampler_sample(f->s, s);
	col_sampler_pass_end(f->s, s->t_ns, true);
}

static uint64_t total(const struct rec *r, int meter, int64_t *cov_ms)
{
	uint64_t sum = 0;
	*cov_ms = 0;
	for (size_t i = 0; i < r->n_rows; i++) {
		sum += r->rows[i].sum[meter];
		*cov_ms += r->rows[i].coverage_ms;
	}
	return sum;
}

static void assert_one_row_per_minute(const struct rec *r)
{
	for (size_t i = 0; i < r->n_rows; i++)
		for (size_t k = i + 1; k < r->n_rows; k++)
			assert_true(r->rows[i].minute_ns != r->rows[k].minute_ns);
}

static void test_steady(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i <= 12; i++) {
		struct col_vm_sample s = smp(1, T0 + S(5 + 10 * i), 1000 + (uint64_t)S(i));
		pass(f, &s);
	}
	/* 12 intervals from :05 to 2:05: minute 0 has 55 s, minute 1 60 s,
	 * minute 2 5 s; a tenth of a core busy throughout. */
	assert_int_equal(f->rec.n_rows, 2); /* minute 2 is still open */
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(12));
	assert_int_equal(cov, 120000);
	assert_int_equal(f->rec.rows[0].coverage_ms, 55000);
	assert_int_equal(f->rec.rows[0].sum[VM_M_CPU_NS], S(55) / 10);
	assert_int_equal(f->rec.rows[1].sum[VM_M_CPU_NS], S(6));
	assert_int_equal(f->rec.rows[1].coverage_ms, 60000);
	assert_int_equal(f->rec.rows[1].sum[VM_M_RUNNING_MS], 60000);
	assert_one_row_per_minute(&f->rec);
}

/* A counter that goes down without a restart: counted from zero, no spike. */
static void test_reset_without_restart(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp(1, T0 + S(1), 5000000), b = smp(1, T0 + S(11), 9000000),
	                     c = smp(1, T0 + S(21), 700);
	pass(f, &a);
	pass(f, &b);
	pass(f, &c);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), 4000000 + 700);
	assert_int_equal(cov, 20000);
}

/* The domain id changed between samples (restarted, no event seen): the
 * new run's first sample is a baseline. */
static void test_restart_between_samples(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp(1, T0 + S(1), S(100)), b = smp(1, T0 + S(11), S(105)),
	                     c = smp(2, T0 + S(21), S(3)), d = smp(2, T0 + S(31), S(7));
	pass(f, &a);
	pass(f, &b);
	pass(f, &c);
	pass(f, &d);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(5) + S(4));
	assert_int_equal(cov, 20000);
}

/* A start event makes the next sample the new run's baseline; a stop ends
 * coverage at the last sample; a stop and start in one minute still give
 * one row for that minute. */
static void test_stop_start_same_minute(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp(1, T0 + S(1), S(50)), b = smp(1, T0 + S(11), S(60));
	pass(f, &a);
	pass(f, &b);
	struct col_event stop = {UUID, T0 + S(15), COL_EV_STOPPED, -1, "destroyed"};
	assert_true(col_sampler_event(f->s, &stop) & COL_NEED_XML);
	col_sampler_pass_begin(f->s, T0 + S(21));
	col_sampler_pass_end(f->s, T0 + S(21), true);
	struct col_event start = {UUID, T0 + S(30), COL_EV_STARTED, 2, "booted"};
	assert_true(col_sampler_event(f->s, &start) & COL_NEED_SAMPLE);
	struct col_vm_sample base = smp(2, T0 + S(30), S(1)), c = smp(2, T0 + S(40), S(9));
	col_sampler_sample(f->s, &base);
	pass(f, &c);
	finish(f);
	assert_int_equal(f->rec.n_rows, 1);
	assert_int_equal(f->rec.rows[0].sum[VM_M_CPU_NS], S(10) + S(8));
	assert_int_equal(f->rec.rows[0].coverage_ms, 20000);
	assert_int_equal(f->rec.n_events, 2);
	assert_string_equal(f->rec.events[0], "stopped");
	assert_string_equal(f->rec.events[1], "started");
}

/* A device missing from one sample (NOWAIT, a failed call) is neither
 * lost nor counted again when it comes back, even in a run whose start we
 * saw (where new devices count from zero). */
static void test_device_missing_once(void **state)
{
	struct fixture *f = *state;
	struct col_event start = {UUID, T0 + S(1), COL_EV_STARTED, 1, "booted"};
	col_sampler_event(f->s, &start);
	struct col_vm_sample a = smp(1, T0 + S(1), 0), b = smp(1, T0 + S(11), 10), c = smp(1, T0 + S(21), 20),
	                     d = smp(1, T0 + S(31), 30);
	add_disk(&a, "vda", 1000);
	add_disk(&b, "vda", 1100);
	/* c lacks vda */
	add_disk(&d, "vda", 1300);
	add_disk(&d, "vdb", 50); /* hot-plugged during this run: all of it is new */
	col_sampler_sample(f->s, &a);
	pass(f, &b);
	pass(f, &c);
	pass(f, &d);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_DISK_WR_BYTES, &cov), 300 + 50);
}

/* After a gap longer than max-gap the counters still count, but only the
 * last interval is covered. */
static void test_long_gap(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp(1, T0 + S(1), 0), b = smp(1, T0 + S(301), S(300));
	pass(f, &a);
	pass(f, &b);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(300));
	assert_int_equal(cov, 10000);
}

/* A sample whose time does not advance (the clock stepped back) is a new
 * baseline, not a negative interval. */
/* The wall clock steps back 20 s between two samples 10 s apart: the CPU
 * time between them is counted (late, in the last sample's minute, without
 * coverage), and no wall time is covered twice.  Restarting the baseline
 * lost it without a loss record. */
static void test_clock_back(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp_mono(1, T0 + S(21), S(1)), b = smp_mono(1, T0 + S(11), S(2)),
	                     c = smp_mono(1, T0 + S(31), S(3)), d = smp_mono(1, T0 + S(41), S(4));
	b.mono_ns = a.mono_ns + S(10), c.mono_ns = b.mono_ns + S(20), d.mono_ns = c.mono_ns + S(10);
	add_disk(&a, "vda", 100), add_disk(&b, "vda", 250), add_disk(&c, "vda", 300), add_disk(&d, "vda", 400);
	pass(f, &a);
	pass(f, &b);
	pass(f, &c);
	pass(f, &d);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(3));
	assert_int_equal(cov, 20000); /* [21 s, 41 s) */
	assert_int_equal(total(&f->rec, VM_M_DISK_WR_BYTES, &cov), 300);
	assert_int_equal(total(&f->rec, VM_M_RUNNING_MS, &cov), 20000);
	assert_int_equal(f->rec.n_rows, 1);
	assert_int_equal(f->rec.rows[0].late, S(1) + 150);
	assert_int_equal(f->rec.n_losses, 0);
}

/* A step back of more than an interval: every sample until the clock is
 * past the last one again is counted late; then intervals go on from it. */
static void test_clock_back_far(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample s[] = {smp_mono(1, T0 + S(50), 0), smp_mono(1, T0 + S(5), S(1)),
	                            smp_mono(1, T0 + S(15), S(2)), smp_mono(1, T0 + S(55), S(3)),
	                            smp_mono(1, T0 + S(65), S(4))};
	for (size_t i = 0; i < 5; i++)
		pass(f, &s[i]);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(4));
	assert_int_equal(cov, 15000); /* [50 s, 65 s) */
	assert_int_equal(f->rec.n_rows, 2);
	assert_int_equal(f->rec.rows[0].late, S(2));
	assert_int_equal(f->rec.rows[0].sum[VM_M_RUNNING_MS], 10000);
	assert_int_equal(f->rec.n_losses, 0);
}

/* Counters that follow the wall clock (libvirt's test driver) go down with
 * it: no delta at the step, not a reset counted from zero; they count on
 * from there. */
static void test_clock_back_counter_down(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample s[] = {smp_mono(1, T0 + S(50), S(1000050)), smp_mono(1, T0 + S(5), S(1000005)),
	                            smp_mono(1, T0 + S(15), S(1000015)), smp_mono(1, T0 + S(55), S(1000055))};
	add_disk(&s[0], "vda", 500), add_disk(&s[1], "vda", 50), add_disk(&s[2], "vda", 150);
	add_disk(&s[3], "vda", 550);
	for (size_t i = 0; i < 4; i++)
		pass(f, &s[i]);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(10) + S(40));
	assert_int_equal(cov, 5000);
	assert_int_equal(total(&f->rec, VM_M_DISK_WR_BYTES, &cov), 100 + 400);
	assert_int_equal(f->rec.rows[0].late, S(10) + 100);
}

static struct col_host_sample host_smp(int64_t t, uint64_t busy)
{
	struct col_host_sample h;
	memset(&h, 0, sizeof h);
	h.t_ns = t;
	h.have_cpu = true;
	h.cpu_user_ns = busy;
	h.cpus = 4;
	return h;
}

/* The host's clock steps forward by two hours between two samples: the
 * minutes stepped over get no rows, and no capacity is claimed for them. */
static void test_host_clock_forward(void **state)
{
	struct fixture *f = *state;
	int64_t t[] = {T0 + S(1), T0 + S(11), T0 + S(7211), T0 + S(7221)};
	for (size_t i = 0; i < 4; i++) {
		struct col_host_sample h = host_smp(t[i], S(i));
		col_sampler_host(f->s, &h);
	}
	finish(f);
	int64_t cov = 0;
	uint64_t capacity = 0, busy = 0;
	for (size_t i = 0; i < f->rec.n_host_rows; i++) {
		const struct vm_usage_row *r = &f->rec.host_rows[i];
		assert_true(r->minute_ns < T0 + S(60) || r->minute_ns >= T0 + S(7200));
		cov += r->coverage_ms;
		capacity += r->sum[HOST_M_CPU_CAPACITY_NS];
		busy += r->sum[HOST_M_CPU_BUSY_NS];
	}
	assert_int_equal(f->rec.n_host_rows, 2);
	assert_int_equal(cov, 20000);
	assert_int_equal(capacity, 4 * S(20));
	assert_int_equal(busy, S(2)); /* the intervals before and after, not the step's */
}

/* A VM that vanishes from a complete pass without an event stops being
 * covered at its last sample; its open minute is written once time has
 * passed its end. */
static void test_vanished(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp(1, T0 + S(1), 0), b = smp(1, T0 + S(11), S(10));
	pass(f, &a);
	pass(f, &b);
	col_sampler_pass_begin(f->s, T0 + S(21));
	col_sampler_pass_end(f->s, T0 + S(21), true);
	assert_int_equal(f->rec.n_rows, 0);
	col_sampler_pass_begin(f->s, T0 + S(61));
	col_sampler_pass_end(f->s, T0 + S(61), true);
	assert_int_equal(f->rec.n_rows, 1);
	assert_int_equal(f->rec.rows[0].coverage_ms, 10000);
}

/* ---------------------------------------------------------------- energy */

/* A host sample with one RAPL package at `uj` (range `range`); uj
 * UINT64_MAX: no energy read. */
static struct col_host_sample power_smp(int64_t t, uint64_t uj, uint64_t range)
{
	struct col_host_sample h = host_smp(t, 0);
	if (uj != UINT64_MAX) {
		h.have_power = true;
		h.power.n = 1;
		snprintf(h.power.zone[0].dir, sizeof h.power.zone[0].dir, "intel-rapl:0");
		h.power.zone[0].energy_uj = uj;
		h.power.zone[0].max_range_uj = range;
	}
	return h;
}

/* The energy rows among the host's, in *rows (at most 16). */
static size_t power_rows(const struct rec *r, const struct vm_usage_row **rows)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_host_rows && n < 16; i++)
		if (r->host_rows[i].set == vm_usage_power_meters())
			rows[n++] = &r->host_rows[i];
	return n;
}

/* Energy rows: the deltas split over minutes by time like every counter,
 * through a wrap; a reset and a sample without energy leave their
 * intervals out (coverage says so), never a zero. */
static void test_energy(void **state)
{
	struct fixture *f = *state;
	const uint64_t range = 1000000000; /* 1 kJ: wraps within the test */
	/* 1 W: 10 J a 10 s interval, from T0+5 s. */
	uint64_t e = range - 75000000; /* wraps in [75 s, 85 s) */
	for (int i = 0; i <= 12; i++) {
		struct col_host_sample h = power_smp(T0 + S(5 + 10 * i), e % (range + 1), range);
		col_sampler_host(f->s, &h);
		e += 10000000;
	}
	/* A reset at T0+135 s (the counter back near 0), no energy at 145 s,
	 * then two good intervals again. */
	struct col_host_sample h = power_smp(T0 + S(135), 1000, range);
	col_sampler_host(f->s, &h);
	h = power_smp(T0 + S(145), UINT64_MAX, range);
	col_sampler_host(f->s, &h);
	h = power_smp(T0 + S(155), 2000, range);
	col_sampler_host(f->s, &h);
	h = power_smp(T0 + S(165), 2000 + 10000000, range);
	col_sampler_host(f->s, &h);
	h = power_smp(T0 + S(175), 2000 + 20000000, range);
	col_sampler_host(f->s, &h);
	finish(f);
	const struct vm_usage_row *rows[16];
	size_t n = power_rows(&f->rec, rows);
	assert_int_equal(n, 3);
	assert_int_equal(rows[0]->minute_ns, T0);
	assert_int_equal(rows[0]->coverage_ms, 55000);
	assert_int_equal(rows[0]->sum[POWER_M_ENERGY_UJ], 55000000);
	assert_int_equal(rows[1]->minute_ns, T0 + S(60));
	assert_int_equal(rows[1]->coverage_ms, 60000); /* the wrap was in it */
	assert_int_equal(rows[1]->sum[POWER_M_ENERGY_UJ], 60000000);
	/* [120, 125) of the last 1 W interval, then the reset [125, 135), no
	 * energy [135, 155), then [155, 175). */
	assert_int_equal(rows[2]->minute_ns, T0 + S(120));
	assert_int_equal(rows[2]->coverage_ms, 25000);
	assert_int_equal(rows[2]->sum[POWER_M_ENERGY_UJ], 25000000);
	assert_true(rows[2]->have & 1);
	/* The host's own rows are all there, apart. */
	assert_int_equal(f->rec.n_host_rows, 6);
}

/* The energy continues across a saved state like the host's counters: the
 * interval from the last sample saved to the first after is counted once;
 * a state of version 1 (before energy) still loads. */
static void test_energy_resume(void **state)
{
	struct fixture *f = *state;
	const uint64_t range = UINT64_C(262143328850);
	struct col_host_sample h = power_smp(T0 + S(5), 7000, range);
	col_sampler_host(f->s, &h);
	h = power_smp(T0 + S(15), 7000 + 3000000, range);
	col_sampler_host(f->s, &h);
	struct vm_binw w = {0};
	col_sampler_save(f->s, &w);
	col_sampler_free(f->s, false);
	struct col_sink sink = {r_usage, r_inventory, r_event, r_host, &f->rec, r_traffic, r_host_capture, r_loss};
	f->s = col_sampler_new(&f->conf, &sink, NULL);
	char err[256];
	assert_int_equal(col_sampler_resume(f->s, w.p, w.len, err, sizeof err), 0);
	vm_binw_release(&w);
	h = power_smp(T0 + S(25), 7000 + 5000000, range);
	col_sampler_host(f->s, &h);
	h = power_smp(T0 + S(65), 7000 + 9000000, range);
	col_sampler_host(f->s, &h);
	finish(f);
	const struct vm_usage_row *rows[16];
	size_t n = power_rows(&f->rec, rows);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0]->coverage_ms + rows[1]->coverage_ms, 60000);
	assert_int_equal(rows[0]->sum[POWER_M_ENERGY_UJ] + rows[1]->sum[POWER_M_ENERGY_UJ], 9000000);
	assert_int_equal(rows[1]->sum[POWER_M_ENERGY_UJ], 500000); /* [60, 65) of 4 J over 40 s */

	/* Version 1: what a sampler without energy saved, without the last
	 * part (energy: none, and an empty accumulator: three zero bytes). */
	struct col_sampler *s = col_sampler_new(&f->conf, &sink, NULL);
	col_sampler_save(s, &w);
	col_sampler_free(s, false);
	assert_true(w.len > 4);
	assert_memory_equal(w.p + w.len - 3, "\0\0\0", 3);
	w.p[0] = 1;
	s = col_sampler_new(&f->conf, &sink, NULL);
	assert_int_equal(col_sampler_resume(s, w.p, w.len - 3, err, sizeof err), 0);
	col_sampler_free(s, true);
	/* Version 3 is not ours. */
	w.p[0] = 3;
	s = col_sampler_new(&f->conf, &sink, NULL);
	assert_int_equal(col_sampler_resume(s, w.p, w.len, err, sizeof err), -1);
	col_sampler_free(s, true);
	vm_binw_release(&w);
}

/* ---------------------------------------------------------------- traffic */

/* A running domain with one NIC whose host end is `tap`. */
static void domain(struct fixture *f, const char *uuid, const char *name, const char *tap, int64_t at)
{
	struct col_domain *d = vm_xcalloc(1, sizeof *d);
	snprintf(d->inv.uuid, sizeof d->inv.uuid, "%s", uuid);
	snprintf(d->inv.name, sizeof d->inv.name, "%s", name);
	d->inv.vcpus = 1;
	d->inv.n_nics = 1;
	snprintf(d->inv.nics[0].target, sizeof d->inv.nics[0].target, "%s", tap);
	d->active = true;
	col_sampler_domain(f->s, d, at);
	free(d);
}

/* A re-list (inventory refresh) gives new device names but keeps what the
 * steady-value rule learnt of the domain's values (collector/virt.h). */
static void test_relist_keeps_steady(void **state)
{
	struct fixture *f = *state;
	domain(f, UUID, "vm1", "vnet0", T0);
	struct col_devices *d = col_sampler_devices(UUID, f->s);
	assert_non_null(d);
	assert_int_equal(d->n_nics, 1);
	d->cpu = (struct col_steady){.id = 7, .same = COL_STEADY_READS, .minute = T0, .read = true, .have = 3};
	d->mem = (struct col_steady){.id = 7, .same = 5, .minute = T0, .read = true, .have = 1};
	domain(f, UUID, "vm1", "vnet1", T0 + S(60));
	d = col_sampler_devices(UUID, f->s);
	assert_int_equal(d->n_nics, 1);
	assert_string_equal(d->nics[0], "vnet1");
	assert_true(d->cpu.read);
	assert_int_equal(d->cpu.id, 7);
	assert_int_equal(d->cpu.same, COL_STEADY_READS);
	assert_int_equal(d->mem.same, 5);
}

/* A VM first listed by this process without a lifecycle event (running
 * or shut off before the collector started) has its state recorded once,
 * as observed; one whose event came first does not. */
static void test_observed_state(void **state)
{
	struct fixture *f = *state;
	domain(f, UUID, "vm1", "vnet0", T0);
	domain(f, UUID, "vm1", "vnet0", T0 + S(10));
	assert_int_equal(f->rec.n_events, 1);
	assert_string_equal(f->rec.events[0], "started:observed");
	static const char other[] = "11111111-2222-3333-4444-555555555555";
	struct col_event def = {"", T0 + S(20), COL_EV_DEFINED, -1, "added"};
	snprintf(def.uuid, sizeof def.uuid, "%s", other);
	col_sampler_event(f->s, &def);
	struct col_domain *d = vm_xcalloc(1, sizeof *d);
	snprintf(d->inv.uuid, sizeof d->inv.uuid, "%s", other);
	snprintf(d->inv.name, sizeof d->inv.name, "vm2");
	col_sampler_domain(f->s, d, T0 + S(21));
	free(d);
	assert_int_equal(f->rec.n_events, 2);
	assert_string_equal(f->rec.events[1], "defined");
	/* shut off when first listed */
	static const char third[] = "99999999-2222-3333-4444-555555555555";
	d = vm_xcalloc(1, sizeof *d);
	snprintf(d->inv.uuid, sizeof d->inv.uuid, "%s", third);
	snprintf(d->inv.name, sizeof d->inv.name, "vm3");
	col_sampler_domain(f->s, d, T0 + S(22));
	free(d);
	assert_int_equal(f->rec.n_events, 3);
	assert_string_equal(f->rec.events[2], "stopped:observed");
}

/* The slot the capture set gives `tap`, or -1. */
static long slot_of(struct fixture *f, const char *tap, int64_t now)
{
	const struct col_capture_iface *ifs;
	size_t n;
	col_sampler_capture_ifaces(f->s, now, &ifs, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(ifs[i].name, tap) == 0)
			return (long)ifs[i].slot;
	return -1;
}

static struct col_capture_cell cell(long slot, enum vm_pkt_dir dir, const char *cls, uint64_t bytes, uint64_t pk)
{
	struct col_capture_cell c = {.slot = (uint32_t)slot, .dir = dir, .bytes = bytes, .packets = pk};
	snprintf(c.class_name, sizeof c.class_name, "%s", cls);
	return c;
}

static void capture(struct fixture *f, int64_t from, int64_t to, struct col_capture_cell *cells, size_t n,
                    int64_t uncovered)
{
	struct col_capture_interval iv = {.from_ns = from,
	                                  .to_ns = to,
	                                  .complete = uncovered == 0,
	                                  .uncovered_ns = uncovered,
	                                  .cells = cells,
	                                  .n_cells = n};
	iv.stats.frames = 10;
	const struct col_capture_ifstate st[] = {{0, 7, "tap0"}, {1, 8, "tap1"}, {2, 9, "tap2"}};
	col_sampler_capture(f->s, &iv, st, 3);
}

static const struct vm_db_traffic_class *find_class(const struct trow *t, const char *name)
{
	for (size_t i = 0; i < t->tr.n_classes; i++)
		if (strcmp(t->classes[i].name, name) == 0)
			return &t->classes[i];
	return NULL;
}

/* An interval straddling a minute boundary is split by time, exactly:
 * the minutes' shares add up to every count to the byte, and the traffic
 * rows go out with the usage rows of the same minutes. */
static void test_traffic_split(void **state)
{
	struct fixture *f = *state;
	col_sampler_set_capture(f->s, true);
	domain(f, UUID, "vm1", "tap0", T0);
	long slot = slot_of(f, "tap0", T0 + S(40));
	assert_true(slot >= 0);
	struct col_vm_sample a = smp(1, T0 + S(50), 0);
	pass(f, &a);
	/* Odd times and counts: (T0+50s+7ns, T0+70s+3ns], 1/2 in minute 0 (less
	 * a few ns), the rest in minute 1. */
	int64_t from = T0 + S(50) + 7, to = T0 + S(70) + 3;
	struct col_capture_cell cells[] = {
	    cell(slot, VM_PKT_RX, "internal", 1001, 7),
	    cell(slot, VM_PKT_TX, "internet", UINT64_C(999999999937), 13),
	    cell(slot, VM_PKT_TX, "internal", 1, 1),
	};
	struct col_vm_sample b = smp(1, T0 + S(70), S(20));
	col_sampler_pass_begin(f->s, b.t_ns);
	col_sampler_sample(f->s, &b);
	capture(f, from, to, cells, 3, 0);
	/* Minute 0 is not out before the pass ends, then with its usage row. */
	assert_int_equal(f->rec.n_traffic, 0);
	col_sampler_pass_end(f->s, b.t_ns, true);
	assert_int_equal(f->rec.n_rows, 1);
	assert_int_equal(f->rec.n_traffic, 1);
	finish(f);
	assert_int_equal(f->rec.n_traffic, 2);
	const struct trow *m0 = &f->rec.traffic[0], *m1 = &f->rec.traffic[1];
	assert_string_equal(m0->uuid, UUID);
	assert_int_equal(m0->tr.minute_ns, T0);
	assert_int_equal(m1->tr.minute_ns, T0 + S(60));
	uint64_t rx0 = vm_usage_share(1001, from, to, from, T0 + S(60));
	assert_int_equal(find_class(m0, "internal")->rx_bytes, rx0);
	assert_int_equal(find_class(m0, "internal")->rx_bytes + find_class(m1, "internal")->rx_bytes, 1001);
	assert_int_equal(find_class(m0, "internal")->rx_packets + find_class(m1, "internal")->rx_packets, 7);
	assert_int_equal(find_class(m0, "internet")->tx_bytes + find_class(m1, "internet")->tx_bytes,
	                 UINT64_C(999999999937));
	assert_int_equal(find_class(m0, "internet")->tx_packets + find_class(m1, "internet")->tx_packets, 13);
	/* 1 byte and 1 packet are not split in halves: one minute has them. */
	const struct vm_db_traffic_class *i0 = find_class(m0, "internal"), *i1 = find_class(m1, "internal");
	assert_int_equal(i0->tx_bytes + i1->tx_bytes, 1);
	assert_int_equal(i0->tx_packets + i1->tx_packets, 1);
	/* Classes sorted by name; coverage: the capture covered from the
	 * interval's start (the set was made before it). */
	assert_string_equal(m0->classes[0].name, "internal");
	assert_int_equal(m0->tr.captured_ms, 9999);
	assert_int_equal(m1->tr.captured_ms, 10000);
	/* libvirt's counters of the minute come from its usage row (none
	 * sampled here). */
	assert_false(m0->tr.have_libvirt_rx);
	/* The host's capture minutes: frames split the same way. */
	assert_int_equal(f->rec.n_hcap, 2);
	assert_int_equal(f->rec.hcap[0].frames + f->rec.hcap[1].frames, 10);
}

/* Time no worker captured counts against coverage, not against the
 * counts; and a VM whose interfaces the worker did not find is not
 * covered. */
static void test_traffic_coverage(void **state)
{
	struct fixture *f = *state;
	col_sampler_set_capture(f->s, true);
	domain(f, UUID, "vm1", "tap0", T0);
	domain(f, "aaaaaaaa-0000-4000-8000-000000000002", "vm2", "missing0", T0);
	assert_true(slot_of(f, "tap0", T0) >= 0);
	col_sampler_pass_begin(f->s, T0 + S(10));
	struct col_capture_interval iv = {.from_ns = T0, .to_ns = T0 + S(10), .uncovered_ns = S(4)};
	const struct col_capture_ifstate st[] = {{0, 7, "tap0"}, {1, 0, "missing0"}};
	col_sampler_capture(f->s, &iv, st, 2);
	col_sampler_pass_end(f->s, T0 + S(10), true);
	finish(f);
	assert_int_equal(f->rec.hcap[0].uncovered_ms, 4000);
	assert_int_equal(f->rec.n_traffic, 1); /* vm2 was never covered nor counted */
	assert_int_equal(f->rec.traffic[0].tr.captured_ms, 6000);
	assert_int_equal(f->rec.traffic[0].tr.n_classes, 0);
	assert_int_equal(f->rec.n_hcap, 1);
}

/* A freed slot is not given to another VM until a flush has come back
 * after the free: counts taken under the old set are dropped, not billed
 * to the newcomer. */
static void test_slot_reuse(void **state)
{
	struct fixture *f = *state;
	col_sampler_set_capture(f->s, true);
	const char *ua = "aaaaaaaa-0000-4000-8000-00000000000a", *ub = "aaaaaaaa-0000-4000-8000-00000000000b",
	           *uc = "aaaaaaaa-0000-4000-8000-00000000000c";
	domain(f, ua, "a", "tap0", T0);
	long sa = slot_of(f, "tap0", T0);
	assert_true(sa >= 0);
	/* a stops and is undefined: freed at the pass's end. */
	struct col_event stop = {"", T0 + S(5), COL_EV_STOPPED, -1, "destroyed"};
	struct col_event undef = {"", T0 + S(5), COL_EV_UNDEFINED, -1, "removed"};
	snprintf(stop.uuid, sizeof stop.uuid, "%s", ua);
	snprintf(undef.uuid, sizeof undef.uuid, "%s", ua);
	col_sampler_event(f->s, &stop);
	col_sampler_event(f->s, &undef);
	col_sampler_pass_begin(f->s, T0 + S(6));
	col_sampler_pass_end(f->s, T0 + S(6), true);
	assert_int_equal(col_sampler_vm_count(f->s), 0);
	/* b arrives before the next flush: a new slot. */
	domain(f, ub, "b", "tap1", T0 + S(7));
	long sb = slot_of(f, "tap1", T0 + S(7));
	assert_true(sb >= 0 && sb != sa);
	/* That flush still carries a's counts: dropped. */
	struct col_capture_cell cells[] = {cell(sa, VM_PKT_RX, "internal", 500, 5)};
	col_sampler_pass_begin(f->s, T0 + S(10));
	capture(f, T0 + S(6), T0 + S(10), cells, 1, 0);
	col_sampler_pass_end(f->s, T0 + S(10), true);
	/* Now the slot is free again: c gets it. */
	domain(f, uc, "c", "tap2", T0 + S(11));
	assert_int_equal(slot_of(f, "tap2", T0 + S(11)), sa);
	finish(f);
	for (size_t i = 0; i < f->rec.n_traffic; i++) {
		assert_string_not_equal(f->rec.traffic[i].uuid, ua);
		assert_int_equal(f->rec.traffic[i].tr.n_classes, 0); /* nobody got a's 500 bytes */
	}
}

/* A restart inside a minute: the new process continues the old one's
 * minute, so that it is one row with both parts and every nanosecond of
 * the counter's delta is in a row. */
static void test_resume_inside_minute(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp_mono(1, T0 + S(5), S(100)), b = smp_mono(1, T0 + S(25), S(120));
	pass(f, &a);
	pass(f, &b);
	restart(f);
	assert_int_equal(f->rec.n_rows, 0); /* nothing closed by the stop */
	struct col_vm_sample c = smp_mono(1, T0 + S(45), S(140)), d = smp_mono(1, T0 + S(65), S(160));
	pass(f, &c);
	pass(f, &d);
	finish(f);
	assert_one_row_per_minute(&f->rec);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(60));
	assert_int_equal(cov, 60000);
	assert_int_equal(f->rec.rows[0].minute_ns, T0);
	assert_int_equal(f->rec.rows[0].coverage_ms, 55000);
	assert_int_equal(f->rec.rows[0].sum[VM_M_CPU_NS], S(55));
	assert_int_equal(f->rec.n_losses, 0);
}

/* A kill right after a minute boundary, restarted 30 s later: the
 * interval across the restart is split over its minutes. */
static void test_resume_across_minutes(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp_mono(1, T0 + S(50), S(0)), b = smp_mono(1, T0 + S(60), S(10));
	pass(f, &a);
	pass(f, &b); /* closes minute 0 */
	assert_int_equal(f->rec.n_rows, 1);
	restart(f);
	struct col_vm_sample c = smp_mono(1, T0 + S(100), S(50)), d = smp_mono(1, T0 + S(130), S(80));
	pass(f, &c);
	pass(f, &d);
	finish(f);
	assert_one_row_per_minute(&f->rec);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(80));
	assert_int_equal(cov, 80000);
	assert_int_equal(f->rec.rows[1].minute_ns, T0 + S(60));
	assert_int_equal(f->rec.rows[1].sum[VM_M_CPU_NS], S(60));
}

/* libvirt away for 400 s, the domain running on: its usage is split over
 * the gap's minutes, no minute gets more than the time it has. */
static void test_gap_split(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp_mono(1, T0 + S(5), 0);
	pass(f, &a);
	for (int i = 1; i < 40; i++) { /* passes without samples */
		col_sampler_pass_begin(f->s, T0 + S(5 + 10 * i));
		col_sampler_pass_end(f->s, T0 + S(5 + 10 * i), false);
	}
	assert_int_equal(f->rec.n_rows, 0);
	struct col_vm_sample b = smp_mono(1, T0 + S(405), S(400));
	pass(f, &b);
	finish(f);
	assert_one_row_per_minute(&f->rec);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(400));
	assert_int_equal(cov, 400000);
	for (size_t i = 0; i < f->rec.n_rows; i++)
		assert_true(f->rec.rows[i].sum[VM_M_CPU_NS] <= (uint64_t)f->rec.rows[i].coverage_ms * 1000000);
	assert_int_equal(f->rec.n_losses, 0);
}

/* A gap longer than max-interpolate is recorded as lost, not guessed. */
static void test_gap_lost(void **state)
{
	struct fixture *f = *state;
	f->conf.max_interpolate_s = 120;
	struct col_vm_sample a = smp_mono(1, T0 + S(5), 0), b = smp_mono(1, T0 + S(405), S(400)),
	                     c = smp_mono(1, T0 + S(415), S(410));
	pass(f, &a);
	pass(f, &b);
	pass(f, &c);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(10));
	assert_int_equal(f->rec.n_losses, 1);
	assert_int_equal(f->rec.losses[0].from, T0 + S(5));
	assert_int_equal(f->rec.losses[0].to, T0 + S(405));
}

/* The domain restarted while no collector ran: that time is lost, and
 * says so; the new run counts from its first sample. */
static void test_resume_restarted(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp_mono(1, T0 + S(5), S(100)), b = smp_mono(1, T0 + S(15), S(110));
	pass(f, &a);
	pass(f, &b);
	restart(f);
	struct col_vm_sample c = smp_mono(2, T0 + S(45), S(3)), d = smp_mono(2, T0 + S(55), S(8));
	pass(f, &c);
	pass(f, &d);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_CPU_NS, &cov), S(10) + S(5));
	assert_int_equal(f->rec.n_losses, 1);
	assert_int_equal(f->rec.losses[0].from, T0 + S(15));
	assert_int_equal(f->rec.losses[0].to, T0 + S(45));
	assert_string_equal(f->rec.losses[0].reason, "restarted while not observed");
}

/* A saved state that is damaged anywhere is refused whole, without
 * reading past it; the sampler stays usable. */
static void test_resume_damaged(void **state)
{
	struct fixture *f = *state;
	struct col_vm_sample a = smp_mono(1, T0 + S(5), S(100)), b = smp_mono(1, T0 + S(25), S(120));
	add_disk(&a, "vda", 10);
	add_disk(&b, "vda", 20);
	pass(f, &a);
	pass(f, &b);
	struct vm_binw w = {0};
	col_sampler_save(f->s, &w);
	char err[256];
	struct col_sink sink = {r_usage, r_inventory, r_event, r_host, &f->rec, r_traffic, r_host_capture, r_loss};
	for (size_t cut = 0; cut < w.len; cut++) {
		struct col_sampler *s2 = col_sampler_new(&f->conf, &sink, NULL);
		assert_int_equal(col_sampler_resume(s2, w.p, cut, err, sizeof err), -1);
		assert_int_equal(col_sampler_vm_count(s2), 0);
		col_sampler_free(s2, true);
	}
	uint8_t *more = vm_xmalloc(w.len + 1);
	memcpy(more, w.p, w.len);
	more[w.len] = 0;
	struct col_sampler *s3 = col_sampler_new(&f->conf, &sink, NULL);
	assert_int_equal(col_sampler_resume(s3, more, w.len + 1, err, sizeof err), -1);
	assert_non_null(strstr(err, "damaged"));
	col_sampler_free(s3, true);
	free(more);
	vm_binw_release(&w);
	assert_int_equal(f->rec.n_rows, 0);
}

/* The saved state lost: VMs found running are lost since it was saved. */
static void test_state_lost(void **state)
{
	struct fixture *f = *state;
	col_sampler_state_lost(f->s, T0 - S(30), "saved state lost");
	struct col_vm_sample a = smp_mono(1, T0 + S(5), S(100)), b = smp_mono(1, T0 + S(15), S(110));
	pass(f, &a);
	pass(f, &b);
	finish(f);
	assert_int_equal(f->rec.n_losses, 1);
	assert_int_equal(f->rec.losses[0].from, T0 - S(30));
	assert_int_equal(f->rec.losses[0].to, T0 + S(5));
}

/* A counter that first appears after a start we saw (vCPU time while QEMU
 * starts) counts from zero. */
static void test_counter_appears_after_start(void **state)
{
	struct fixture *f = *state;
	struct col_event start = {UUID, T0 + S(1), COL_EV_STARTED, 1, "booted"};
	col_sampler_event(f->s, &start);
	struct col_vm_sample a = smp(1, T0 + S(1), S(1)), b = smp(1, T0 + S(11), S(4));
	b.v[COL_VCPU_NS] = 2640000000u;
	b.have |= 1u << COL_VCPU_NS;
	col_sampler_sample(f->s, &a);
	pass(f, &b);
	finish(f);
	int64_t cov;
	assert_int_equal(total(&f->rec, VM_M_VCPU_NS, &cov), 2640000000u);
}

/* ---------------------------------------------------------------- owners, limits */

/* What the collector logs while fn runs (stderr, where the log goes in
 * the foreground).  Caller frees. */
static char *logged(void (*fn)(struct fixture *), struct fixture *f)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	char *buf = vm_xcalloc(1, 1 << 16);

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	vm_log_set_level(VM_LOG_INFO);
	fn(f);
	vm_log_set_level(VM_LOG_ERR);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(buf, 1, (1 << 16) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A shut-off domain as col_virt hands it over: parsed by vm_domxml_parse,
 * with its XML lent for the owner mappings. */
static void domain_xml(struct fixture *f, const char *xml, const char *limits)
{
	struct col_domain *d = vm_xcalloc(1, sizeof *d);
	char err[256];
	assert_int_equal(vm_domxml_parse(xml, strlen(xml), &d->inv, err, sizeof err, d->owner_err, sizeof d->owner_err),
	                 0);
	snprintf(d->inv.limits, sizeof d->inv.limits, "%s", limits);
	d->xml = xml;
	d->xml_len = strlen(xml);
	col_sampler_domain(f->s, d, T0);
	free(d);
}

#define DOM_HEAD "<domain><name>vm1</name><uuid>" UUID "</uuid><metadata>"
#define ACME "<vm xmlns='urn:acme'><owner account='%s'/></vm>"
#define NOVA "<instance xmlns='" VM_NOVA_NS "'><owner><project uuid='p1'>shop</project></owner></instance>"

static char xml_buf[4][1024];

static void owners_run(struct fixture *f)
{
	char acc[80];

	/* the mapping gives the owner */
	snprintf(xml_buf[0], sizeof xml_buf[0], DOM_HEAD ACME "</metadata></domain>", "ACC-1");
	domain_xml(f, xml_buf[0], "");
	assert_int_equal(f->rec.owner.source, VM_OWNER_MAPPING);
	assert_string_equal(f->rec.owner.tenant, "ACC-1");
	/* Nova's element comes before the mapping */
	snprintf(xml_buf[1], sizeof xml_buf[1], DOM_HEAD ACME NOVA "</metadata></domain>", "ACC-1");
	domain_xml(f, xml_buf[1], "");
	assert_int_equal(f->rec.owner.source, VM_OWNER_NOVA);
	assert_string_equal(f->rec.owner.tenant, "p1");
	/* an over-long account is refused: the owner rule applies, the
	 * problem is logged once over two re-lists */
	memset(acc, 'a', 64);
	acc[64] = '\0';
	snprintf(xml_buf[2], sizeof xml_buf[2], DOM_HEAD ACME "</metadata></domain>", acc);
	domain_xml(f, xml_buf[2], "");
	domain_xml(f, xml_buf[2], "");
	assert_int_equal(f->rec.owner.source, VM_OWNER_CONFIG);
	assert_string_equal(f->rec.owner.tenant, "rule");
	/* no XML lent (a caller that does not keep it): the rule */
	struct col_domain *d = vm_xcalloc(1, sizeof *d);
	snprintf(d->inv.uuid, sizeof d->inv.uuid, UUID);
	snprintf(d->inv.name, sizeof d->inv.name, "vm1");
	col_sampler_domain(f->s, d, T0);
	assert_int_equal(f->rec.owner.source, VM_OWNER_CONFIG);
	/* lent XML the mappings cannot read: said, and the rule applies */
	d->xml = "<domain";
	d->xml_len = strlen(d->xml);
	col_sampler_domain(f->s, d, T0);
	free(d);
	assert_int_equal(f->rec.owner.source, VM_OWNER_CONFIG);
	assert_string_equal(f->rec.owner.tenant, "rule");
}

/* Precedence in the collector: vmeter's element, Nova's, the mappings,
 * the rules; a refused mapping is said once, naming the owner used. */
static void test_owner_sources(void **state)
{
	struct fixture *f = *state;
	struct vm_owner_map map = {
	    .name = "acme", .ns = "urn:acme", .tenant = "/vm/owner/@account", .project = "", .cost_centre = ""};
	struct vm_owner_rule rule = {.match = "vm*", .owner = {.tenant = "rule"}};
	f->conf.owner_maps = &map;
	f->conf.n_owner_maps = 1;
	f->conf.owner_rules = &rule;
	f->conf.n_owner_rules = 1;

	char *log = logged(owners_run, f);
	assert_int_equal(count(log, "owner 'ACC-1' from an owner-metadata mapping"), 1);
	assert_int_equal(count(log, "owner 'p1' from nova metadata"), 1);
	assert_int_equal(count(log, "vm 'vm1' (" UUID "): owner-metadata[acme]: tenant at '/vm/owner/@account' is "
	                            "longer than 63 bytes; owner 'rule' from the configuration instead"),
	                 1);
	assert_int_equal(count(log, "vm 'vm1' (" UUID "): owner-metadata: line 1: "), 1);
	free(log);
}

static void limits_run(struct fixture *f)
{
	static const char xml[] = DOM_HEAD "</metadata></domain>";
	domain_xml(f, xml, "73 disks, 64 kept");
	assert_int_equal(col_sampler_incomplete_inventories(f->s), 1);
	domain_xml(f, xml, "73 disks, 64 kept");
	domain_xml(f, xml, "73 disks, 64 kept");
	assert_int_equal(col_sampler_incomplete_inventories(f->s), 1);
	domain_xml(f, xml, "74 disks, 64 kept");
	assert_int_equal(col_sampler_incomplete_inventories(f->s), 1);
	domain_xml(f, xml, "");
	domain_xml(f, xml, "");
	assert_int_equal(col_sampler_incomplete_inventories(f->s), 0);
	domain_xml(f, xml, "74 disks, 64 kept");
	assert_int_equal(col_sampler_incomplete_inventories(f->s), 1);
}

/* A domain over the XML limits: counted while it is, logged once per
 * distinct text and once when it is complete again. */
static void test_incomplete_inventory(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(col_sampler_incomplete_inventories(f->s), 0);
	char *log = logged(limits_run, f);
	assert_int_equal(count(log, "vm 'vm1' (" UUID "): domain XML over vmeter's limits, inventory incomplete: 73 "
	                            "disks, 64 kept\n"),
	                 1);
	assert_int_equal(count(log, "inventory incomplete: 74 disks, 64 kept\n"), 2);
	assert_int_equal(count(log, "within vmeter's limits again"), 1);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_steady, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relist_keeps_steady, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_without_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_between_samples, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_start_same_minute, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_missing_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_gap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clock_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clock_back_far, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clock_back_counter_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_clock_forward, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vanished, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_traffic_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_traffic_coverage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slot_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_inside_minute, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_across_minutes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_restarted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counter_appears_after_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_owner_sources, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incomplete_inventory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observed_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_energy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_energy_resume, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
