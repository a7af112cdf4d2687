/* lib/cfgtree: block files into a tree with exact lines (cfgtree.h). */
#include "config.h"

#include "cfgtree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"
#include "xalloc.h"

struct node {
	struct vm_cfgnode pub;
	struct node *mem_next; /* every node and its strings, to free them */
	char *strs;
	char **list; /* a list's values, each its own allocation */
	size_t n_list;
};

struct vm_cfgtree {
	char *file;
	struct node *nodes;
	const struct vm_cfgnode *root;
};

struct parser {
	struct vm_cfgtree *t;
	const char *p, *end;
	int line;
	char *err;
	size_t errsize;
	bool failed;
};

static void __attribute__((format(printf, 3, 4))) fail(struct parser *ps, int line, const char *fmt, ...)
{
	if (ps->failed)
		return;
	ps->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vm_cfg_verror(ps->err, ps->errsize, ps->t->file, line, 0, "", fmt, ap);
	va_end(ap);
}

void vm_cfg_verror(char *err, size_t errsize, const char *file, int line, int col, const char *prefix, const char *fmt,
                   va_list ap)
{
	int n = col > 0 ? snprintf(err, errsize, "%s:%d:%d: %s", file, line, col, prefix)
	                : snprintf(err, errsize, "%s:%d: %s", file, line, prefix);
	if (n >= 0 && (size_t)n < errsize)
		vsnprintf(err + n, errsize - (size_t)n, fmt, ap);
}

static bool is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static bool is_word_char(int c)
{
	return is_name_char(c) || (c && strchr("+:/*", c));
}

/* What the next character is, for messages: 'x', end of file, a byte. */
static const char *describe(struct parser *ps, char *buf, size_t size)
{
	if (ps->p >= ps->end)
		return "the end of the file";
	unsigned char c = (unsigned char)*ps->p;
	if (c == '\n')
		snprintf(buf, size, "the end of the line");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", c);
	return buf;
}

/* Blanks, newlines and comments; stops at anything else. */
static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end) {
		char c = *ps->p;
		if (c == '\n') {
			ps->line++;
			ps->p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else if (c == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else {
			return;
		}
	}
}

static struct node *new_node(struct parser *ps, size_t strbytes)
{
	struct node *n = vm_xcalloc(1, sizeof *n);
	n->strs = vm_xmalloc(strbytes);
	n->mem_next = ps->t->nodes;
	ps->t->nodes = n;
	return n;
}

/* A name at ps->p into buf (NUL-terminated); its length, 0 if none. */
static size_t read_name(struct parser *ps, char *buf, size_t size)
{
	size_t n = 0;
	if (ps->p >= ps->end || !is_name_start(*ps->p))
		return 0;
	while (ps->p < ps->end && is_name_char(*ps->p)) {
		if (n + 1 >= size) {
			fail(ps, ps->line, "a name longer than %zu bytes", size - 1);
			return 0;
		}
		buf[n++] = *ps->p++;
	}
	buf[n] = '\0';
	return n;
}

/* A quoted string or a bare word at ps->p, unescaped into *out (caller
 * frees).  Returns -1 (message set) on a bad one. */
static int read_value(struct parser *ps, const char *what, char **out)
{
	char tmp[32];
	int line = ps->line;
	if (ps->p < ps->end && *ps->p == '"') {
		ps->p++;
		size_t cap = 16, n = 0;
		char *v = vm_xmalloc(cap);
		for (;;) {
			if (ps->p >= ps->end || *ps->p == '\n') {
				fail(ps, line, "%s: the string is not closed on its line (a '\"' is missing)", what);
				free(v);
				return -1;
			}
			char c = *ps->p++;
			if (c == '"')
				break;
			if (c == '\\') {
				char e = ps->p < ps->end ? *ps->p++ : '\0';
				c = e == 'n' ? '\n' : e == 't' ? '\t' : e == '"' || e == '\\' ? e : '\0';
				if (!c) {
					fail(
					    ps, line,
					    "%s: unknown escape '\\%c' in a string (\\\", \\\\, \\n and \\t are known)",
					    what, e >= 0x20 && e < 0x7f ? e : '?');
					free(v);
					return -1;
				}
			} else if ((unsigned char)c < 0x20 && c != '\t') {
				fail(ps, line, "%s: control character 0x%02x in a string", what, (unsigned char)c);
				free(v);
				return -1;
			}
			if (n + 2 > cap)
				v = vm_xrealloc(v, cap *= 2);
			v[n++] = c;
		}
		v[n] = '\0';
		if (!vm_utf8_valid(v)) {
			fail(ps, line, "%s: the string is not valid UTF-8 text", what);
			free(v);
			return -1;
		}
		*out = v;
		return 0;
	}
	const char *s = ps->p;
	while (ps->p < ps->end && is_word_char(*ps->p))
		ps->p++;
	if (ps->p == s) {
		fail(ps, line, "%s: expected a value (a \"string\" or a word), got %s", what,
		     describe(ps, tmp, sizeof tmp));
		return -1;
	}
	*out = vm_xstrndup(s, (size_t)(ps->p - s));
	return 0;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A list at ps->p ('{'): its values into a new array (caller frees each
 * and it; never NULL on success, even when empty).  -1 (message set) on a
 * bad one. */
static int read_list(struct parser *ps, const char *what, int opened, char ***out, size_t *n_out)
{
	char tmp[32];
	size_t n = 0;
	char **list = vm_xcalloc(1, sizeof *list);
	ps->p++; /* '{' */
	for (;;) {
		skip_space(ps);
		if (ps->p >= ps->end) {
			fail(ps, ps->line, "%s: the list opened on line %d is not closed (a '}' is missing)", what,
			     opened);
			break;
		}
		if (*ps->p == '}') {
			ps->p++;
			*out = list;
			*n_out = n;
			return 0;
		}
		if (n == VM_CFGTREE_MAX_LIST) {
			fail(ps, ps->line, "%s: a list of more than %d values", what, VM_CFGTREE_MAX_LIST);
			break;
		}
		if (*ps->p != '"' && !is_word_char(*ps->p)) {
			fail(ps, ps->line, "%s: expected a value or '}' in the list, got %s", what,
			     describe(ps, tmp, sizeof tmp));
			break;
		}
		char *v;
		if (read_value(ps, what, &v) < 0)
			break;
		list = vm_xrealloc(list, (n + 2) * sizeof *list);
		list[n++] = v;
		while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
			ps->p++;
		if (ps->p < ps->end && *ps->p == ',')
			ps->p++;
	}
	free_list(list, n);
	return -1;
}

/* The items of a section (or of the file, opened 0) up to its '}'. */
static const struct vm_cfgnode *parse_items(struct parser *ps, int depth, const char *opener, int opened, int *end_line)
{
	const struct vm_cfgnode *first = NULL;
	struct vm_cfgnode **tail = (struct vm_cfgnode **)&first;
	char tmp[32], name[128];
	for (;;) {
		skip_space(ps);
		if (ps->p >= ps->end) {
			if (opener)
				fail(ps, ps->line, "section '%s' opened on line %d is not closed (a '}' is missing)",
				     opener, opened);
			*end_line = ps->line;
			return first;
		}
		if (*ps->p == '}') {
			if (!opener) {
				fail(ps, ps->line, "a '}' that closes no section");
				return first;
			}
			*end_line = ps->line;
			ps->p++;
			return first;
		}
		int line = ps->line;
		if (!read_name(ps, name, sizeof name)) {
			fail(ps, line, "expected a name%s, got %s", opener ? " or '}'" : "",
			     describe(ps, tmp, sizeof tmp));
			return first;
		}
		skip_space(ps);
		char *value = NULL, *title = NULL, **list = NULL;
		size_t n_list = 0;
		char what[160];
		snprintf(what, sizeof what, "'%s'", name);
		if (ps->p < ps->end && *ps->p == '=') {
			ps->p++;
			while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
				ps->p++;
			if (ps->p >= ps->end || *ps->p == '\n' || *ps->p == '#') {
				fail(ps, ps->line, "%s: no value after '=' (a value is on its option's line)", what);
				return first;
			}
			if (*ps->p == '{') {
				if (read_list(ps, what, line, &list, &n_list) < 0)
					return first;
			} else if (read_value(ps, what, &value) < 0) {
				return first;
			}
			/* The value's line ends the option: ';' or ',' may follow. */
			while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
				ps->p++;
			if (ps->p < ps->end && (*ps->p == ';' || *ps->p == ','))
				ps->p++;
		} else {
			if (ps->p < ps->end && *ps->p != '{') {
				if (ps->p < ps->end && (*ps->p == '"' || is_word_char(*ps->p))) {
					if (read_value(ps, what, &title) < 0)
						return first;
					skip_space(ps);
				}
			}
			if (ps->p >= ps->end || *ps->p != '{') {
				fail(ps, ps->line, "'%s'%s%s%s: expected %s, got %s", name, title ? " \"" : "",
				     title ? title : "", title ? "\"" : "", title ? "'{'" : "'=' or '{'",
				     describe(ps, tmp, sizeof tmp));
				free(title);
				return first;
			}
			if (depth + 1 > VM_CFGTREE_MAX_DEPTH) {
				fail(ps, line, "'%s': sections nested deeper than %d", name, VM_CFGTREE_MAX_DEPTH);
				free(title);
				return first;
			}
			ps->p++;
		}
		size_t nl = strlen(name) + 1, tl = title ? strlen(title) + 1 : 0, vl = value ? strlen(value) + 1 : 0;
		struct node *n = new_node(ps, nl + tl + vl);
		memcpy(n->strs, name, nl);
		n->pub.name = n->strs;
		if (title)
			n->pub.title = memcpy(n->strs + nl, title, tl);
		if (value)
			n->pub.value = memcpy(n->strs + nl + tl, value, vl);
		free(title);
		free(value);
		if (list) {
			n->list = list;
			n->n_list = n_list;
			n->pub.list = (const char *const *)list;
			n->pub.n_list = n_list;
		}
		n->pub.line = line;
		n->pub.end_line = line;
		*tail = &n->pub;
		tail = (struct vm_cfgnode **)&n->pub.next;
		if (!n->pub.value && !n->pub.list) {
			n->pub.child = parse_items(ps, depth + 1, n->pub.name, line, &n->pub.end_line);
			if (ps->failed)
				return first;
		}
	}
}

struct vm_cfgtree *vm_cfgtree_parse(const char *file, const char *text, size_t len, char *err, size_t errsize)
{
	struct vm_cfgtree *t = vm_xcalloc(1, sizeof *t);
	t->file = vm_xstrdup(file);
	struct parser ps = {.t = t, .p = text, .end = text + len, .line = 1, .err = err, .errsize = errsize};
	if (len > VM_CFGTREE_MAX_BYTES) {
		fail(&ps, 1, "larger than %d MiB", VM_CFGTREE_MAX_BYTES >> 20);
	} else {
		int end_line;
		t->root = parse_items(&ps, 0, NULL, 0, &end_line);
	}
	if (ps.failed) {
		vm_cfgtree_free(t);
		return NULL;
	}
	return t;
}

struct vm_cfgtree *vm_cfgtree_load(const char *path, char *err, size_t errsize)
{
	size_t len;
	char *text = vm_read_file(path, VM_CFGTREE_MAX_BYTES + 1, &len);
	if (!text) {
		snprintf(err, errsize, "%s: %s", path, errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
		return NULL;
	}
	struct vm_cfgtree *t = vm_cfgtree_parse(path, text, len, err, errsize);
	free(text);
	return t;
}

void vm_cfgtree_free(struct vm_cfgtree *t)
{
	if (!t)
		return;
	for (struct node *n = t->nodes, *next; n; n = next) {
		next = n->mem_next;
		free(n->strs);
		free_list(n->list, n->n_list);
		free(n);
	}
	free(t->file);
	free(t);
}

const struct vm_cfgnode *vm_cfgtree_root(const struct vm_cfgtree *t)
{
	return t->root;
}

const char *vm_cfgtree_file(const struct vm_cfgtree *t)
{
	return t->file;
}
