/*
 * pipeline: one batch run.  The calling thread reads and joins the CSV
 * with the templates; --jobs worker threads fill, sign and hash profiles
 * and write each into an unnamed file; one writer thread names the files
 * in CSV order and, once a syncer thread has flushed the file system,
 * records them in SQLite in batches; a publisher thread then links them
 * into OUT/current/ and appends manifest rows, in CSV order.  At most
 * PF_PIPE_WINDOW profiles are in flight, whatever the size of the CSV.
 */
#ifndef PF_PIPELINE_H
#define PF_PIPELINE_H

#include "db.h"
#include "error.h"
#include "sign.h"
#include "store.h"

#define PF_PIPE_WINDOW	16384	/* profiles in flight */
#define PF_PIPE_BATCH	4096	/* profiles per file sync, at most (and
				 * per commit, at least, but for the
				 * last batches of a run) */

/*
 * The page cache of a run's writer connection and the duplicate-key set
 * share PF_PIPE_SHARED_KIB: the cache takes what the set leaves, between
 * PF_PIPE_CACHE_MIN and PF_PIPE_CACHE_MAX KiB (pf_pipe_cache_kib()).
 */
#define PF_PIPE_CACHE_MAX	16384
#define PF_PIPE_CACHE_MIN	8192
#define PF_PIPE_SHARED_KIB	20480

struct pf_run_opts {
	const char *csv_path;		/* NULL: the users in the database */
	const char *kind;		/* "run" or "regenerate" */
	const char *template_name;	/* NULL: the row's "template" column */
	const char *key_column;		/* "email" by default */
	const struct pf_signer *signer;	/* NULL for --unsigned */
	const char *out_root;		/* "out" by default */
	long long ttl;			/* challenge lifetime, seconds */
	long long renew_before;		/* reissue challenges expiring within */
	int prune;			/* revoke users missing from the CSV */
	int reissue_revoked;		/* issue again to revoked users */
	int jobs;			/* worker threads, >= 1 */
	int strict;			/* any bad row stops the run first */
	int dry_run;			/* check and build, write nothing */
	int layout;			/* enum pf_layout (outdir.h): where
					 * a run puts its profiles */
	int wait;			/* wait for the run lock */
	const struct pf_warn *warn;
	/* Called by the writer after each batch (done and total rows). */
	void (*progress)(void *arg, long long done, long long total);
	void *progress_arg;
};

struct pf_run_result {
	struct pf_run_rec run;	/* name, status, counts; strings owned */
	char dir[4096];		/* the run directory */
};

/*
 * Carry out one run on db.  Row problems do not fail the call (they are
 * counted in result->run.n_failed and reported in the manifest) unless
 * strict, where the first problems come back as PF_EX_DATAERR before
 * anything is written.  Clear result with pf_run_rec_clear(&result->run).
 */
struct pf_error *pf_run(struct pf_db *db, const struct pf_run_opts *o,
    struct pf_run_result *result);

/* KiB of page cache for the writer's connection of a run whose
 * duplicate-key set takes keyset_bytes. */
int pf_pipe_cache_kib(size_t keyset_bytes);

#endif
