/* Block files: the syntax of vmeter.conf for files that describe things
 * rather than set options (billing plans, aggregator rules), parsed into
 * a tree whose every node knows its exact line.
 *
 *   # a comment, to the end of the line
 *   plan "standard" {            # a section: a name, an optional title
 *       currency = "EUR"         # an option: a name and one value
 *       version 2026-01-01 {     # values and titles may be bare words
 *           charge vcpu { price = 0.012  per = "vcpu-hour" }
 *       }
 *       argv = { "/usr/bin/x", "--y" }   # a list: values in braces
 *   }
 *
 * Names are [A-Za-z_][A-Za-z0-9_.-]*.  A value or title is a quoted
 * string ("..." with \" \\ \n \t) or a bare word of letters, digits and
 * . _ - + : / *.  Options need no separator (a ';' or ',' is allowed
 * after one).  A list is values between '{' and '}' after '=', separated
 * by blanks, newlines or ',' (at most VM_CFGTREE_MAX_LIST; `{ }` is an
 * empty list).  Text must be UTF-8 without NUL or control characters.
 *
 * Why not libconfuse, which reads vmeter.conf: it reports the line of the
 * token after a value (a blank line later, a message names the wrong
 * line), and it knows no structure a semantic check could walk with
 * lines.  The syntax is the same, so a user learns one. */
#ifndef VM_CFGTREE_H
#define VM_CFGTREE_H

#include <stdarg.h>
#include <stddef.h>

#define VM_CFGTREE_MAX_DEPTH 16
#define VM_CFGTREE_MAX_BYTES (16 << 20)
#define VM_CFGTREE_MAX_LIST 256

/* A node of the tree, read-only for its users; owned by the tree. */
struct vm_cfgnode {
	const char *name;
	const char *title;       /* a section's title, or NULL */
	const char *value;       /* an option's value; NULL for a section and a list */
	const char *const *list; /* a list option's values; NULL for the others */
	size_t n_list;
	int line;                       /* where its name is */
	int end_line;                   /* a section's closing '}'; an option's line */
	const struct vm_cfgnode *child; /* a section's first item */
	const struct vm_cfgnode *next;  /* the next item of the same section */
};

struct vm_cfgtree;

/* Parses `len` bytes of `text` (need not be NUL-terminated).  `file`
 * names the text in messages ("FILE:LINE: ...") and is copied.  Returns
 * the tree, or NULL with the message in err. */
struct vm_cfgtree *vm_cfgtree_parse(const char *file, const char *text, size_t len, char *err, size_t errsize);
/* Reads and parses a file; NULL with "FILE: why" or "FILE:LINE: ..." in err. */
struct vm_cfgtree *vm_cfgtree_load(const char *path, char *err, size_t errsize);
void vm_cfgtree_free(struct vm_cfgtree *t);

/* The top-level items (NULL for an empty file), and the file's name. */
const struct vm_cfgnode *vm_cfgtree_root(const struct vm_cfgtree *t);
const char *vm_cfgtree_file(const struct vm_cfgtree *t);

/* A message about a place in a file, as every reader of block files
 * writes it: "FILE:LINE: PREFIXmessage", or "FILE:LINE:COL: PREFIXmessage"
 * for col > 0 (a place inside a value).  prefix may be "" (a path of
 * sections, with its ": "). */
void vm_cfg_verror(char *err, size_t errsize, const char *file, int line, int col, const char *prefix, const char *fmt,
                   va_list ap) __attribute__((format(printf, 7, 0)));

#endif
