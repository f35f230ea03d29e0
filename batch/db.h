/*
 * db: the only place that opens SQLite.  Opening sets the pragmas (WAL,
 * foreign keys, busy timeout), keeps the file 0600, and checks the schema
 * version against the migrations compiled into the binary.
 */
#ifndef PF_DB_H
#define PF_DB_H

#include <sqlite3.h>

#include "error.h"

struct pf_db {
	sqlite3 *h;		/* owned */
	char *path;		/* malloc'd copy of the file name */
};

#define PF_DB_CREATE	0x1	/* create the file if missing (init) */
#define PF_DB_NOCHECK	0x2	/* do not require the current schema */

/*
 * Open path.  Without PF_DB_CREATE a missing file is PF_EX_NOINPUT ("run
 * profactory init"); a schema older or newer than this binary is
 * PF_EX_CONFIG unless PF_DB_NOCHECK.  *out is owned by the caller.
 */
struct pf_error *pf_db_open(struct pf_db **out, const char *path, int flags);
void pf_db_close(struct pf_db *db);	/* NULL-safe */

/*
 * For a process that makes a few queries and exits (verify-csr), before
 * its first pf_db_open(): connections set up no lookaside memory and no
 * page cache in advance, memory that such a process would pay to touch
 * and hardly use.
 */
void pf_db_lean(void);

/* Apply the missing migrations in one transaction each.  *from and *to get
 * the schema version before and after. */
struct pf_error *pf_db_migrate(struct pf_db *db, int *from, int *to);
/* The schema version this binary carries. */
int pf_db_schema_version(void);

/* Error for the last failure on db: "DBPATH: what: sqlite message", with
 * PF_EX_TEMPFAIL for busy/locked, PF_EX_IOERR for I/O and full disk,
 * PF_EX_SOFTWARE otherwise. */
struct pf_error *pf_db_error(struct pf_db *db, const char *what);

struct pf_error *pf_db_exec(struct pf_db *db, const char *sql);
/* PRAGMA data_version: changes when another connection commits. */
struct pf_error *pf_db_data_version(struct pf_db *db, long long *v);
struct pf_error *pf_db_begin(struct pf_db *db);		/* BEGIN IMMEDIATE */
struct pf_error *pf_db_commit(struct pf_db *db);
void pf_db_rollback(struct pf_db *db);		/* best effort, no error */

/* Prepare sql on db; errors through pf_db_error. */
struct pf_error *pf_db_prepare(struct pf_db *db, sqlite3_stmt **st,
    const char *sql);
/* Step a statement that returns no rows (or whose rows are ignored) and
 * reset it; errors through pf_db_error naming what. */
struct pf_error *pf_db_step_done(struct pf_db *db, sqlite3_stmt *st,
    const char *what);

/* 1 if a run holds the run lock of the database at dbpath (seen without
 * taking it), 0 if none does, -1 if it cannot be told. */
int pf_db_run_active(const char *dbpath);

/*
 * The run lock: an flock(2) on "DBPATH.lock" (mode 0600), so a crashed
 * holder never blocks the next run.  Busy without wait: PF_EX_TEMPFAIL
 * naming the holder's pid and start time.  *fd is the held lock; close it
 * (pf_db_unlock) to release.
 */
struct pf_error *pf_db_lock(struct pf_db *db, int wait, int *fd);
/* The path of a lock of the database at dbpath: its real path (links
 * resolved) and suffix, into buf; -1 if it does not fit. */
int pf_db_lock_path(const char *dbpath, const char *suffix, char *buf,
    size_t len);
void pf_db_unlock(int fd);

#endif
