/* The schema migrations compiled in from sql/ (see scripts/embed-sql). */
#ifndef PF_MIGRATIONS_H
#define PF_MIGRATIONS_H

struct pf_migration {
	int version;		/* NNN of sql/NNN_name.sql, strictly increasing */
	const char *name;	/* static */
	const char *sql;	/* static */
};

extern const struct pf_migration pf_migrations[];
extern const int pf_nmigrations;

#endif
