/* The replay driver of the fuzz targets (replay.h): inputs from files and
 * directories, then mutations of them (flips, dictionary tokens, inserts,
 * deletes, cuts, splices) with a fixed seed, so a failure replays. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "replay.h"

struct input {
	uint8_t *data;
	size_t size;
};

static struct input *inputs;
static size_t n_inputs, cap_inputs;
static uint64_t seed = 0x5eed;

static uint32_t rnd(void)
{
	seed ^= seed >> 12;
	seed ^= seed << 25;
	seed ^= seed >> 27;
	return (uint32_t)((seed * 0x2545f4914f6cdd1dull) >> 32);
}

static void add_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;

	if (!fp) {
		perror(path);
		exit(2);
	}
	n = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	if (n_inputs == cap_inputs) {
		cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
		inputs = realloc(inputs, cap_inputs * sizeof *inputs);
	}
	inputs[n_inputs].data = malloc(n ? n : 1);
	memcpy(inputs[n_inputs].data, buf, n);
	inputs[n_inputs].size = n;
	n_inputs++;
}

static void add_path(const char *path)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	char sub[4096];

	if (stat(path, &st) < 0) {
		perror(path);
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		add_file(sub);
	}
	if (dir)
		closedir(dir);
}

/* A mutation of a known input (or noise): flips, overwrites with
 * the target's tokens, inserts, deletes, cuts, splices. */
static size_t mutate(uint8_t *out, size_t cap)
{
	size_t n;

	if (n_inputs == 0 || rnd() % 16 == 0) {
		n = rnd() % 256;
		for (size_t i = 0; i < n; i++)
			out[i] = (uint8_t)rnd();
		return n;
	}
	const struct input *in = &inputs[rnd() % n_inputs];
	n = in->size < cap ? in->size : cap;
	memcpy(out, in->data, n);
	for (unsigned k = 1 + rnd() % 6; k > 0; k--) {
		size_t at = n ? rnd() % n : 0;
		switch (rnd() % 7) {
		case 0:
			if (n)
				out[at] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1: /* a token written over what is there */
			if (fuzz_target.n_dict) {
				const struct fuzz_token *t = &fuzz_target.dict[rnd() % fuzz_target.n_dict];
				size_t m = t->n < cap - at ? t->n : cap - at;
				memcpy(out + at, t->s, m);
				if (at + m > n)
					n = at + m;
			}
			break;
		case 2:
			if (n)
				out[at] = (uint8_t)rnd();
			break;
		case 3:
			if (n < cap) {
				memmove(out + at + 1, out + at, n - at);
				out[at] = (uint8_t)rnd();
				n++;
			}
			break;
		case 4:
			if (n) {
				memmove(out + at, out + at + 1, n - at - 1);
				n--;
			}
			break;
		case 5: n = at; break;
		case 6: {
			const struct input *o = &inputs[rnd() % n_inputs];
			size_t from = o->size ? rnd() % o->size : 0, m = o->size - from;
			if (at + m > cap)
				m = cap - at;
			memcpy(out + at, o->data + from, m);
			if (at + m > n)
				n = at + m;
			break;
		}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long runs = 0;
	uint8_t *buf = malloc(fuzz_target.max_size);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			runs = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0) | 1;
		else
			add_path(argv[i]);
	}
	for (size_t i = 0; i < n_inputs; i++) {
		/* Each input at its own size, as libFuzzer hands it over. */
		uint8_t *copy = malloc(inputs[i].size ? inputs[i].size : 1);
		memcpy(copy, inputs[i].data, inputs[i].size);
		LLVMFuzzerTestOneInput(copy, inputs[i].size);
		free(copy);
	}
	for (unsigned long r = 0; r < runs; r++) {
		size_t n = mutate(buf, fuzz_target.max_size);
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		LLVMFuzzerTestOneInput(copy, n);
		free(copy);
	}
	printf("%s: %zu inputs replayed, %lu mutated, no crash\n", fuzz_target.name, n_inputs, runs);
	for (size_t i = 0; i < n_inputs; i++)
		free(inputs[i].data);
	free(inputs);
	free(buf);
	if (fuzz_target.teardown)
		fuzz_target.teardown();
	return 0;
}
