/* The replay driver of the fuzz targets (tests/fuzz/replay.c): built
 * without libFuzzer, a target is a program that replays files and
 * directories and then runs N inputs mutated from them with a fixed seed:
 *
 *   fuzz_NAME [-n N] [-s SEED] [FILE|DIR]...
 *
 * A target defines LLVMFuzzerTestOneInput() and `fuzz_target`. */
#ifndef VM_FUZZ_REPLAY_H
#define VM_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Bytes that mutations insert or write over (a field's telling values, a
 * syntax's tokens). */
struct fuzz_token {
	const char *s;
	size_t n;
};

struct fuzz_target {
	const char *name;
	const struct fuzz_token *dict;
	size_t n_dict;
	size_t max_size;        /* of a mutated input */
	void (*teardown)(void); /* frees what the target keeps across inputs; may be NULL */
};

extern const struct fuzz_target fuzz_target;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the target: a broken one aborts, naming it. */
#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s: %s:%d: invariant broken: %s\n", fuzz_target.name, __FILE__, __LINE__,     \
			        #cond);                                                                                \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

#endif
