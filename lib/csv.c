#include "config.h"

#include "csv.h"

#include <stdbool.h>
#include <string.h>

void vm_csv_text(FILE *f, const char *s)
{
	if (!s)
		return;
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	bool formula = s[0] && strchr("=+-@\t\r", s[0]);
	if (quote || formula)
		fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	if (quote || formula)
		fputc('"', f);
}
