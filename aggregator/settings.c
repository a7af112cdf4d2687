/* The aggregator's configuration section (settings.h). */
#include "config.h"

#include "settings.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The section as lib/conf.c fills it: strings as written, checked. */
struct agg_conf_values {
	int interval_s, lag_s;
	char *current, *contention, *idle, *sizing, *poweroff;
	char *min_coverage, *idle_cpu;
	int idle_disk_bps, idle_net_bps, percentile;
	char *oversized, *undersized, *target, *starved, *noisy_host, *noisy_share;
	int top_vms;
	char *rules;
	int rules_interval_s;
	char *rules_lag, *dry_run, *opt_out_tag, *host_down, *metrics_listen;
	int action_workers;
};

#define MAX_DURATION_S (3660LL * 86400)

int64_t agg_duration_parse(const char *text)
{
	int64_t n = 0;
	const char *p = text;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (*p++ - '0');
		if (n > MAX_DURATION_S)
			return -1;
	}
	int64_t unit;
	switch (*p++) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -1;
	}
	if (*p || n * unit > MAX_DURATION_S)
		return -1;
	return n * unit;
}

int agg_share_parse(const char *text)
{
	const char *p = text;
	int whole = 0, frac = 0, digits = 0;
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		whole = whole * 10 + (*p++ - '0');
		if (whole > 100)
			return -1;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p) && digits < 2) {
			frac = frac * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0)
			return -1;
		if (digits == 1)
			frac *= 10;
	}
	if (strcmp(p, "%") != 0)
		return -1;
	int bp = whole * 100 + frac;
	return bp > 10000 ? -1 : bp;
}

static const char *check_duration(const char *v)
{
	int64_t s = agg_duration_parse(v);
	return s > 0 ? NULL : "must be a duration: a number and s, m, h or d (\"7d\"), above 0";
}

/* The windows read from hourly usage must be whole hours. */
static const char *check_hours(const char *v)
{
	int64_t s = agg_duration_parse(v);
	return s > 0 && s % 3600 == 0 ? NULL : "must be whole hours (\"1h\", \"14d\")";
}

static const char *check_share(const char *v)
{
	return agg_share_parse(v) >= 0 ? NULL : "must be a share, \"5%\" or \"2.5%\", 0% to 100%";
}

static const char *check_lag(const char *v)
{
	return agg_duration_parse(v) >= 0 ? NULL : "must be a duration: a number and s, m, h or d (\"2m\")";
}

static const char *check_yes_no(const char *v)
{
	return strcmp(v, "yes") == 0 || strcmp(v, "no") == 0 ? NULL : "must be \"yes\" or \"no\"";
}

static const char *check_tag(const char *v)
{
	const char *eq = strchr(v, '=');
	return !*v || (eq && eq != v) ? NULL : "must be \"key=value\" (a tag of the VM's owner metadata) or \"\"";
}

/* "127.0.0.1:9464" or "[::1]:9464": a loopback address and a port. */
static const char *check_listen(const char *v)
{
	static const char *const hosts[] = {"127.", "[::1]:", "localhost:"};
	if (!*v)
		return NULL;
	const char *colon = strrchr(v, ':');
	bool loop = false;
	for (size_t i = 0; i < 3; i++)
		loop |= strncmp(v, hosts[i], strlen(hosts[i])) == 0;
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;
	if (!loop || !colon || port < 1 || port > 65535 || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return "must be a loopback address and a port (\"127.0.0.1:9464\"), or \"\"";
	return NULL;
}

#define O(field) offsetof(struct agg_conf_values, field)
static const struct vm_conf_option agg_options[] = {
    {"interval", VM_CONF_INT, O(interval_s), 10, 86400, 300, NULL, NULL},
    {"lag", VM_CONF_INT, O(lag_s), 0, 86400, 180, NULL, NULL},
    {"current-window", VM_CONF_STR, O(current), 1, 16, 0, "1h", check_duration},
    {"contention-window", VM_CONF_STR, O(contention), 1, 16, 0, "1h", check_hours},
    {"idle-window", VM_CONF_STR, O(idle), 1, 16, 0, "7d", check_hours},
    {"sizing-window", VM_CONF_STR, O(sizing), 1, 16, 0, "14d", check_hours},
    {"powered-off-after", VM_CONF_STR, O(poweroff), 1, 16, 0, "7d", check_duration},
    {"min-coverage", VM_CONF_STR, O(min_coverage), 1, 16, 0, "90%", check_share},
    {"idle-cpu", VM_CONF_STR, O(idle_cpu), 1, 16, 0, "5%", check_share},
    {"idle-disk-bps", VM_CONF_INT, O(idle_disk_bps), 0, 1L << 30, 10240, NULL, NULL},
    {"idle-net-bps", VM_CONF_INT, O(idle_net_bps), 0, 1L << 30, 10240, NULL, NULL},
    {"percentile", VM_CONF_INT, O(percentile), 1, 100, 95, NULL, NULL},
    {"oversized-cpu", VM_CONF_STR, O(oversized), 1, 16, 0, "40%", check_share},
    {"undersized-cpu", VM_CONF_STR, O(undersized), 1, 16, 0, "90%", check_share},
    {"target", VM_CONF_STR, O(target), 1, 16, 0, "70%", check_share},
    {"starved-delay", VM_CONF_STR, O(starved), 1, 16, 0, "5%", check_share},
    {"noisy-host-delay", VM_CONF_STR, O(noisy_host), 1, 16, 0, "5%", check_share},
    {"noisy-share", VM_CONF_STR, O(noisy_share), 1, 16, 0, "25%", check_share},
    {"top-vms", VM_CONF_INT, O(top_vms), 1, 50, 3, NULL, NULL},
    {"rules", VM_CONF_STR, O(rules), 0, 4096, 0, "", NULL},
    {"rules-interval", VM_CONF_INT, O(rules_interval_s), 10, 3600, 10, NULL, NULL},
    {"rules-lag", VM_CONF_STR, O(rules_lag), 1, 16, 0, "2m", check_lag},
    {"dry-run", VM_CONF_STR, O(dry_run), 2, 3, 0, "no", check_yes_no},
    {"opt-out-tag", VM_CONF_STR, O(opt_out_tag), 0, 320, 0, "automation=off", check_tag},
    {"host-down-after", VM_CONF_STR, O(host_down), 1, 16, 0, "5m", check_duration},
    {"metrics-listen", VM_CONF_STR, O(metrics_listen), 0, 64, 0, "", check_listen},
    {"action-workers", VM_CONF_INT, O(action_workers), 1, 64, 4, NULL, NULL},
};
#undef O

const struct vm_conf_program agg_conf_program = {"aggregator", agg_options, sizeof agg_options / sizeof agg_options[0],
                                                 sizeof(struct agg_conf_values)};

struct vm_conf *agg_settings_load(const char *path, struct agg_settings *s, char *err, size_t errsize)
{
	struct vm_conf *conf = vm_conf_load_program(path, &agg_conf_program, err, errsize);
	if (!conf)
		return NULL;
	const struct agg_conf_values *v = conf->program_values;
	*s = (struct agg_settings){
	    .interval_s = v->interval_s,
	    .lag_s = v->lag_s,
	    .current_s = agg_duration_parse(v->current),
	    .contention_s = agg_duration_parse(v->contention),
	    .idle_s = agg_duration_parse(v->idle),
	    .sizing_s = agg_duration_parse(v->sizing),
	    .poweroff_s = agg_duration_parse(v->poweroff),
	    .min_coverage_bp = agg_share_parse(v->min_coverage),
	    .idle_cpu_bp = agg_share_parse(v->idle_cpu),
	    .idle_disk_bps = v->idle_disk_bps,
	    .idle_net_bps = v->idle_net_bps,
	    .percentile = v->percentile,
	    .oversized_bp = agg_share_parse(v->oversized),
	    .undersized_bp = agg_share_parse(v->undersized),
	    .target_bp = agg_share_parse(v->target),
	    .starved_bp = agg_share_parse(v->starved),
	    .noisy_host_bp = agg_share_parse(v->noisy_host),
	    .noisy_share_bp = agg_share_parse(v->noisy_share),
	    .top_vms = v->top_vms,
	    .rules = v->rules,
	    .rules_interval_s = v->rules_interval_s,
	    .rules_lag_s = agg_duration_parse(v->rules_lag),
	    .dry_run = strcmp(v->dry_run, "yes") == 0,
	    .opt_out_tag = v->opt_out_tag,
	    .host_down_s = agg_duration_parse(v->host_down),
	    .metrics_listen = v->metrics_listen,
	    .action_workers = v->action_workers,
	};
	/* What spans options has no single line: the file and both names. */
	const char *bad = NULL;
	if (s->oversized_bp >= s->undersized_bp)
		bad = "aggregator.oversized-cpu must be below aggregator.undersized-cpu";
	else if (s->target_bp == 0)
		bad = "aggregator.target must be above 0%";
	if (bad) {
		snprintf(err, errsize, "%s: %s", path, bad);
		vm_conf_free(conf);
		return NULL;
	}
	return conf;
}
