#include "config.h"

#include "counter.h"

enum vm_counter_result vm_counter_delta(bool have_prev, uint64_t prev, uint64_t cur, bool restarted, uint64_t *delta)
{
	if (restarted) {
		*delta = cur;
		return VM_COUNTER_RESTART;
	}
	if (!have_prev) {
		*delta = 0;
		return VM_COUNTER_BASELINE;
	}
	if (cur < prev) {
		*delta = cur;
		return VM_COUNTER_RESET;
	}
	*delta = cur - prev;
	return VM_COUNTER_OK;
}
