/* The database migrations, compiled in from sql/NNN_name.sql. */
#ifndef VM_SCHEMA_H
#define VM_SCHEMA_H

struct vm_migration {
	unsigned version;
	const char *name;
	const char *sql;
};

extern const struct vm_migration vm_migrations[]; /* ascending versions */
extern const unsigned vm_n_migrations;

#endif
