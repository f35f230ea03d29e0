#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "challenge.h"
#include "csvin.h"
#include "manifest.h"
#include "outdir.h"
#include "pipeline.h"
#include "profile.h"
#include "template.h"
#include "util.h"

#define MAX_TEMPLATES_PER_ROW	16
#define MAX_PROBLEMS_SHOWN	5	/* in the --strict error */
#define MAX_ROW_WARNINGS	20	/* failed rows told on stderr */
/* Batches between the writer and the recorder (the one being named and
 * those waiting for their sync); with the publisher's and the workers'
 * share they fit in the window. */
#define PEND_SLOTS	(PF_PIPE_WINDOW / PF_PIPE_BATCH - 2)
/*
 * Once the whole CSV is read, while the writer keeps up with the workers,
 * a batch ends as soon as it holds at least as many jobs as are left
 * after it, and this many: towards the end the batches halve, so that
 * what is synced, recorded and published after the last profile is
 * signed is one small batch, not up to PF_PIPE_BATCH.  (When the workers
 * are ahead, full batches drain what they left faster.)
 */
#define TAIL_BATCH	64
#define WORKER_NICE	5	/* workers' priority below the rest */
/* A waiting writer is woken once this many jobs in a row are finished
 * (or all the jobs there are): one wake-up for many jobs. */
#define WRITER_WAKE	32
/* Jobs a worker claims at once: the files a rerun checks are opened and
 * their reads started together. */
#define WORKER_CLAIM	256
#define REREAD_EVERY	16	/* a rerun reads about one file in so many
				 * even if untouched */
#define FDS_PER_WORKER	8	/* its database connection, a run folder */

/* A template used by this run, loaded once. */
struct tmpl_ent {
	struct tmpl_ent *next;
	char *name;			/* malloc'd; as named by the CSV */
	struct pf_tmpl_rec rec;		/* owned; rec.id == 0 if unknown */
	struct pf_template *t;		/* owned, NULL if unknown or broken */
	char *problem;			/* malloc'd, why it cannot be used */
	long *colidx;			/* CSV column of each template column */
};

/* A set of 64-bit key digests, to find duplicate keys in O(1) memory per
 * user: open addressing, at most 3/4 full. */
struct keyset {
	uint64_t *slot;			/* malloc'd, 0 = empty */
	size_t cap, n;
};

enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

/* A job's current profile, apart: most jobs of a first run have none. */
struct cur {
	struct pf_current c;
	struct stat st;			/* its file, when found intact */
	int fd;				/* its file, open to be checked; or
					 * FD_UNFIT, FD_LATER, FD_SETTLED */
	int reread;			/* read it even if untouched */
	int verified;			/* read, and found intact */
};

enum {
	FD_UNFIT = -1,		/* not there as recorded: reissue */
	FD_LATER = -2,		/* not opened yet: opened when checked */
	FD_SETTLED = -3,	/* as its run left it: intact, not read */
};

/* What a job does; set by the reader, settled by the worker. */
enum {
	ACT_FAIL,		/* the row failed (error set) */
	ACT_ISSUE,		/* build, sign, write a new profile */
	ACT_CHECK,		/* unchanged if its file still has its digest */
	ACT_UNCHANGED,		/* nothing to do */
	ACT_REVOKED,		/* revoked by an administrator: nothing */
};

struct job {
	int state;			/* SLOT_* (under run.mu) */
	unsigned long long seq;
	long line;
	struct tmpl_ent *te;		/* borrowed; NULL for a failed row */
	char *tname;			/* malloc'd template name as given */
	char *user;			/* malloc'd key */
	char **values;			/* malloc'd block: ncols pointers then
					 * the strings */
	char *error;			/* malloc'd: the row failed */
	int action;			/* ACT_* */
	int renew_only;			/* ACT_ISSUE only because its
					 * challenge was expiring */
	int row_end;			/* the last job of its CSV row */
	char *attrs;			/* malloc'd canonical JSON of the row */
	char attrs_sha[PF_SHA256_HEX];
	struct cur *cur;		/* malloc'd: the current profile, or
					 * NULL */
	/* Filled by a worker: */
	uint8_t *out;			/* malloc'd file bytes (wipe: they
					 * hold the challenge) */
	size_t outlen;
	char sha[PF_SHA256_HEX];
	int has_digest;
	uint8_t digest[PF_SHA256_LEN];
	struct pf_profile prof;		/* xml already wiped */
	int has_fd;			/* fd: the unnamed file written */
	int keep;			/* fd: the file, named, kept open to
					 * drop its pages once synced */
	int fd;
	long long ino, mtime;		/* of the file written (mtime in
					 * ns), ino 0 if not known */
	long long profile_id;		/* recorded as, 0 if not */
	long long ctime;		/* of the file after this run's last
					 * step on it; 0 if not known, or if
					 * it changed between two steps (see
					 * ctime_step()); for an unchanged job
					 * read and found intact, its file's
					 * identity to record again */
	/* Filled by the writer: */
	char tmp[64];			/* named temporary, not renamed yet */
	char file[PF_PATH_MAX + 16];	/* (from the worker: the safe path
					 * it should have) */
	int written;			/* file is this job's, in the run dir */
	struct pf_manifest_row mr;	/* its manifest row, for the publisher
					 * (points into the job) */
};

/* What a profile's file is like, to record: once published, or once read
 * and found intact (sql/003_file_stat.sql). */
struct file_rec {
	long long profile_id, ino, mtime, ctime;
};
/* Between two of the recorder's transactions the publisher publishes at
 * most the jobs in flight; an entry that does not fit is only read again
 * by the next rerun. */
#define CTQ_MAX	PF_PIPE_WINDOW

/* A batch of jobs the writer has named. */
struct pend {
	struct job *jobs[PF_PIPE_BATCH];
	size_t n;
	unsigned long need;	/* sync to wait for, 0 if none */
};

struct run {
	const struct pf_run_opts *o;
	struct pf_db *db;		/* borrowed */
	struct pf_csv *csv;		/* owned */
	struct tmpl_ent *templates;	/* owned list */
	struct keyset keys;
	struct keyset seen;		/* --prune --dry-run: keys recorded */
	char **pruned;			/* --prune: current/ names to unlink
					 * once the prune is committed */
	size_t npruned, cappruned;
	long keycol, tmplcol;
	size_t ncols;
	const char *const *names;	/* borrowed from csv */
	struct pf_outdir *od;		/* owned */
	struct pf_manifest *man;	/* owned */
	struct pf_store_writer *sw;	/* owned */
	struct pf_run_rec *rec;		/* borrowed from the result */
	long long total;		/* rows, from the first pass */
	time_t now;
	char *root;			/* malloc'd absolute output root */
	size_t *attr_order;		/* malloc'd: attribute columns by name */
	size_t nattr;
	long long dv0;			/* the writer's data_version before
					 * the workers' first look-up */
	int others_wrote;		/* it changed: another connection
					 * (revoke, verify-csr) committed */
	char *tmpcsv;			/* malloc'd exported CSV, or NULL */
	int tmpfd;			/* its unnamed file, or -1 */
	int anon;			/* workers write unnamed files */
	size_t ahead;			/* files a worker opens ahead */
	int any_profiles;		/* the database holds profiles */

	pthread_mutex_t mu;
	pthread_cond_t cv_read, cv_work, cv_write;
	struct job *ring;		/* PF_PIPE_WINDOW slots */
	unsigned long long next_fill;	/* next seq the reader fills */
	unsigned long long next_work;	/* next seq a worker claims */
	unsigned long long next_write;	/* next seq the writer takes */
	unsigned long long next_commit;	/* seqs below are recorded */
	unsigned long long next_free;	/* oldest seq whose slot is held */
	int recorder_done;		/* the recorder has stopped */
	/* Named batches, from the writer to the recorder. */
	struct pend *pend;		/* PEND_SLOTS */
	size_t pend_head, pend_count;
	int writer_done;		/* the writer has stopped */
	int writer_waiting;		/* the writer waits on cv_write */
	pthread_cond_t cv_rec;
	pthread_cond_t cv_pub;
	/* The syncer: a syncfs(2) that finishes covers every request made
	 * before it started. */
	pthread_cond_t cv_sync;
	unsigned long sync_req;		/* syncs asked for */
	unsigned long sync_done;	/* requests covered */
	int sync_quit;			/* no more requests will come */
	int sync_failed;		/* a sync failed (the error is fatal) */
	int eof;			/* reader finished */
	int sig_quit;			/* the signal watcher may stop */
	int stopped_by;			/* the signal that stopped the run */
	int stop;			/* a fatal error happened */
	struct pf_error *fatal;		/* first fatal error */
	/* Files to record as they are, from the publisher to the
	 * recorder; CTQ_MAX each. */
	struct file_rec *ctq, *ctq_rec;
	size_t nctq;
};

/*
 * Names the calling thread as top -H, ps -L and perf show it (at most 15
 * bytes); a name that cannot be set changes nothing else.
 */
static void
name_thread(const char *name)
{
	(void)pthread_setname_np(pthread_self(), name);
}

static void
set_fatal(struct run *r, struct pf_error *err)
{
	pthread_mutex_lock(&r->mu);
	if (r->fatal == NULL)
		r->fatal = err;
	else
		pf_error_free(err);
	r->stop = 1;
	/* every thread that waits on a condition that stop ends */
	pthread_cond_broadcast(&r->cv_read);
	pthread_cond_broadcast(&r->cv_work);
	pthread_cond_broadcast(&r->cv_write);
	pthread_cond_broadcast(&r->cv_rec);
	pthread_mutex_unlock(&r->mu);
}

/* The run's fatal error, taken (the signal watcher may set it). */
static struct pf_error *
take_fatal(struct run *r)
{
	struct pf_error *err;

	pthread_mutex_lock(&r->mu);
	err = r->fatal;
	r->fatal = NULL;
	pthread_mutex_unlock(&r->mu);
	return err;
}

/* 1 once the run is stopping (a fatal error, a signal). */
static int
stopping(struct run *r)
{
	int stop;

	pthread_mutex_lock(&r->mu);
	stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop;
}

/*
 * The run sends this to its signal watcher once the watcher may stop, so
 * that joining it does not wait for its next tick.  Its default action
 * is to ignore it, so one sent from outside changes nothing; a signal
 * blocked while it is ignored by default stays pending (Linux), which is
 * what the watcher waits for.
 */
#define WAKE_SIGNAL	SIGURG

/* SIGINT, SIGTERM and SIGHUP, but not one the caller ignores (nohup, a
 * shell's background job): that one stays ignored; and WAKE_SIGNAL. */
static void
stop_signals(sigset_t *set)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &sa) == 0 &&
		    sa.sa_handler != SIG_IGN)
			sigaddset(set, sigs[i]);
	sigaddset(set, WAKE_SIGNAL);
}

/*
 * The signal watcher: SIGINT, SIGTERM and SIGHUP (blocked in every thread
 * of the run) stop the run as an error would, so that the files it did
 * not record are removed, OUT/current/ follows what it did record, and the
 * run is marked interrupted; the command then exits with 128 + the
 * signal's number, as a shell reports a process the signal killed.
 */
static void *
sig_watcher(void *arg)
{
	struct run *r = arg;
	struct timespec tick = { 1, 0 };	/* (WAKE_SIGNAL comes first) */
	sigset_t set;
	int sig, quit;

	name_thread("pf-signals");
	stop_signals(&set);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == WAKE_SIGNAL)
			sig = 0;
		pthread_mutex_lock(&r->mu);
		quit = r->sig_quit;
		if (sig > 0)
			r->stopped_by = sig;
		pthread_mutex_unlock(&r->mu);
		if (sig > 0) {
			set_fatal(r, pf_error_fmt(128 + sig, "stopped by %s; "
			    "what it recorded stays, the rest was removed",
			    sig == SIGINT ? "SIGINT" : sig == SIGTERM ?
			    "SIGTERM" : "SIGHUP"));
			return NULL;
		}
		if (quit)
			return NULL;
	}
}

static uint64_t
key_digest(const char *key)
{
	uint8_t md[PF_SHA256_LEN];
	uint64_t h = 0;
	int i;

	pf_sha256(key, strlen(key), md);
	for (i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return h ? h : 1;
}

/* The slot that holds h, or the empty one where h goes: linear probing
 * from h scaled to [0, cap) (ks is never full). */
static size_t
keyset_slot(const struct keyset *ks, uint64_t h)
{
	size_t i = (size_t)(((h >> 32) * (uint64_t)ks->cap) >> 32);

	while (ks->slot[i] != 0 && ks->slot[i] != h)
		i = i + 1 == ks->cap ? 0 : i + 1;
	return i;
}

/*
 * Make room for at least want keys, moving what ks holds.  Sized once
 * from the row count of the first pass, the set of a run never moves: a
 * move holds the old and the new table at once.
 */
static struct pf_error *
keyset_reserve(struct keyset *ks, size_t want)
{
	struct keyset nk;
	size_t j;

	if (want < 768)
		want = 768;
	if (want <= ks->cap / 4 * 3)
		return NULL;
	if (want > UINT32_MAX / 4 * 3 - 4)	/* keyset_slot() */
		return pf_error_fmt(PF_EX_DATAERR, "more than %lu keys",
		    (unsigned long)(UINT32_MAX / 4 * 3 - 4));
	nk.cap = want / 3 * 4 + 4;
	if ((nk.slot = calloc(nk.cap, sizeof(*nk.slot))) == NULL)
		return pf_error_nomem();
	for (j = 0; j < ks->cap; j++)
		if (ks->slot[j] != 0)
			nk.slot[keyset_slot(&nk, ks->slot[j])] = ks->slot[j];
	nk.n = ks->n;
	free(ks->slot);
	*ks = nk;
	return NULL;
}

/* Add key; *dup = 1 if it was there already. */
static struct pf_error *
keyset_add(struct keyset *ks, const char *key, int *dup)
{
	struct pf_error *err;
	uint64_t h = key_digest(key);
	size_t i;

	if (ks->n + 1 > ks->cap / 4 * 3 &&
	    (err = keyset_reserve(ks, ks->n * 2)) != NULL)
		return err;
	i = keyset_slot(ks, h);
	*dup = ks->slot[i] == h;
	if (!*dup) {
		ks->slot[i] = h;
		ks->n++;
	}
	return NULL;
}

/* 1 if key was added to ks. */
static int
keyset_has(const struct keyset *ks, const char *key)
{
	uint64_t h = key_digest(key);

	return ks->cap > 0 && ks->slot[keyset_slot(ks, h)] == h;
}

static void
keyset_clear(struct keyset *ks)
{
	free(ks->slot);
	memset(ks, 0, sizeof(*ks));
}

static void
tmpl_free_all(struct tmpl_ent *te)
{
	while (te != NULL) {
		struct tmpl_ent *next = te->next;

		free(te->name);
		pf_tmpl_rec_clear(&te->rec);
		pf_template_free(te->t);
		free(te->problem);
		free(te->colidx);
		free(te);
		te = next;
	}
}

/* The template called name, loaded and joined with the CSV header on first
 * use.  A template that cannot be used is returned with ->problem set. */
static struct pf_error *
tmpl_get(struct run *r, const char *name, size_t len, struct tmpl_ent **out)
{
	struct tmpl_ent *te;
	struct pf_error *err;
	char label[160];
	size_t i;

	for (te = r->templates; te != NULL; te = te->next) {
		if (strlen(te->name) == len &&
		    memcmp(te->name, name, len) == 0) {
			*out = te;
			return NULL;
		}
	}
	if ((te = calloc(1, sizeof(*te))) == NULL ||
	    (te->name = malloc(len + 1)) == NULL) {
		free(te);
		return pf_error_nomem();
	}
	memcpy(te->name, name, len);
	te->name[len] = '\0';
	te->next = r->templates;
	r->templates = te;
	*out = te;

	err = pf_store_template_get(r->db, te->name, 0, &te->rec);
	if (err != NULL && err->code != PF_EX_DATAERR)
		return err;
	if (err != NULL) {
		te->problem = pf_strdup(err->msg);
		pf_error_free(err);
		return te->problem ? NULL : pf_error_nomem();
	}
	snprintf(label, sizeof(label), "template \"%.100s\" version %ld",
	    te->name, te->rec.version);
	err = pf_template_load(&te->t, label, te->rec.body, te->rec.len,
	    te->rec.forced, NULL);
	if (err != NULL) {
		te->problem = pf_strdup(err->msg);
		pf_error_free(err);
		return te->problem ? NULL : pf_error_nomem();
	}
	te->colidx = calloc(pf_template_ncolumns(te->t) + 1, sizeof(long));
	if (te->colidx == NULL)
		return pf_error_nomem();
	for (i = 0; i < pf_template_ncolumns(te->t); i++) {
		const char *col = pf_template_column(te->t, i);

		te->colidx[i] = pf_csv_colindex(r->csv, col);
		if (te->colidx[i] < 0) {
			char msg[512];

			snprintf(msg, sizeof(msg), "template \"%.100s\" uses "
			    "column \"%.100s\", which %.200s does not have",
			    te->name, col, pf_csv_path(r->csv));
			te->problem = pf_strdup(msg);
			return te->problem ? NULL : pf_error_nomem();
		}
	}
	return NULL;
}

/*
 * The next name of a list of templates ("wifi; vpn") at *p: *s and *len,
 * without the spaces and tabs around it (*len may be 0); *p moves past
 * it, to NULL after the last.  0 when there is none left.
 */
static int
next_tmpl_name(const char **p, const char **s, size_t *len)
{
	const char *end, *b, *e;

	if (*p == NULL)
		return 0;
	end = strchr(*p, ';');
	e = end ? end : *p + strlen(*p);
	for (b = *p; b < e && (*b == ' ' || *b == '\t'); b++)
		;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*s = b;
	*len = (size_t)(e - b);
	*p = end ? end + 1 : NULL;
	return 1;
}

/* The templates --template names must all be usable: otherwise every row
 * would fail the same way. */
static struct pf_error *
check_template_option(struct run *r)
{
	struct pf_error *err;
	struct tmpl_ent *te;
	const char *p = r->o->template_name, *s;
	size_t len;

	while (next_tmpl_name(&p, &s, &len)) {
		if (len == 0)
			continue;
		if ((err = tmpl_get(r, s, len, &te)) != NULL)
			return err;
		if (te->problem != NULL)
			return pf_error_fmt(PF_EX_DATAERR, "--template: %s",
			    te->problem);
	}
	return NULL;
}

/* One (row, template) pair as the reader sees it. */
struct pair {
	struct tmpl_ent *te;		/* NULL if the name is unusable */
	const char *name;		/* into the row or the options */
	size_t len;
	char problem[512];		/* empty when the pair is good */
};

/*
 * Check a row and split its templates.  Row-wide problems go to rowprob;
 * per-template problems to each pair.  *npairs is at least 1 so a failed
 * row still yields a manifest line.
 */
static struct pf_error *
check_row(struct run *r, const struct pf_csv_row *row, struct pair *pairs,
    size_t *npairs, char *rowprob, size_t probsz)
{
	struct pf_error *err;
	const char *names, *p, *s;
	size_t n = 0, i, k, len;
	int dup;

	rowprob[0] = '\0';
	*npairs = 0;
	if (row->problem != NULL) {
		snprintf(rowprob, probsz, "%s", row->problem);
		goto one;
	}
	if (row->lens[r->keycol] == 0) {
		snprintf(rowprob, probsz, "column \"%s\" (the key) is empty",
		    r->names[r->keycol]);
		goto one;
	}
	if ((err = keyset_add(&r->keys, row->fields[r->keycol], &dup)) !=
	    NULL)
		return err;
	if (dup) {
		snprintf(rowprob, probsz, "duplicate key \"%.200s\" in column "
		    "\"%s\"", row->fields[r->keycol], r->names[r->keycol]);
		goto one;
	}
	names = r->o->template_name ? r->o->template_name :
	    row->fields[r->tmplcol];
	for (p = names; next_tmpl_name(&p, &s, &len); ) {
		if (len == 0)
			continue;
		if (n == MAX_TEMPLATES_PER_ROW) {
			snprintf(rowprob, probsz, "more than %d templates",
			    MAX_TEMPLATES_PER_ROW);
			goto one;
		}
		for (k = 0; k < n; k++)
			if (pairs[k].len == len &&
			    memcmp(pairs[k].name, s, len) == 0)
				break;
		if (k == n) {
			pairs[n].name = s;
			pairs[n].len = len;
			pairs[n].problem[0] = '\0';
			n++;
		}
	}
	if (n == 0) {
		snprintf(rowprob, probsz, "no template named in column \"%s\"",
		    r->names[r->tmplcol]);
		goto one;
	}
	for (i = 0; i < n; i++) {
		struct tmpl_ent *te;

		if ((err = tmpl_get(r, pairs[i].name, pairs[i].len, &te)) !=
		    NULL)
			return err;
		pairs[i].te = te;
		if (te->problem != NULL) {
			snprintf(pairs[i].problem, sizeof(pairs[i].problem),
			    "%s", te->problem);
			continue;
		}
		for (k = 0; k < pf_template_ncolumns(te->t); k++) {
			if (row->lens[te->colidx[k]] != 0)
				continue;
			snprintf(pairs[i].problem, sizeof(pairs[i].problem),
			    "column \"%.100s\" is empty (template \"%.100s\" "
			    "uses it)", r->names[te->colidx[k]], te->name);
			break;
		}
	}
	*npairs = n;
	return NULL;
one:
	pairs[0].te = NULL;
	pairs[0].name = r->o->template_name ? r->o->template_name :
	    (r->tmplcol >= 0 && (size_t)r->tmplcol < row->nfields ?
	    row->fields[r->tmplcol] : "");
	pairs[0].len = strlen(pairs[0].name);
	snprintf(pairs[0].problem, sizeof(pairs[0].problem), "%s", rowprob);
	*npairs = 1;
	return NULL;
}

/*
 * --strict: fill the pair's template once with a stand-in challenge, so
 * that values only the filling checks (integers, booleans, allowed
 * strings) are found before anything is written.
 */
static void
trial_fill(struct run *r, const struct pf_csv_row *row, struct pair *pr)
{
	struct pf_profile_vars v;
	struct pf_profile prof;
	struct pf_error *err;
	char chal[PF_CHALLENGE_LEN + 1];

	if (pr->te == NULL || pr->te->t == NULL ||
	    row->nfields != r->ncols)
		return;
	memset(chal, 'A', PF_CHALLENGE_LEN);
	chal[PF_CHALLENGE_LEN] = '\0';
	memset(&v, 0, sizeof(v));
	memset(&prof, 0, sizeof(prof));
	v.names = r->names;
	v.values = (const char *const *)row->fields;
	v.ncols = r->ncols;
	v.user = row->fields[r->keycol];
	v.template_name = pr->te->name;
	v.run = "strict";
	v.challenge = chal;
	if ((err = pf_profile_build(pr->te->t, &v, &prof)) != NULL) {
		if (err->code == PF_EX_DATAERR)
			snprintf(pr->problem, sizeof(pr->problem), "%.*s",
			    (int)sizeof(pr->problem) - 1, err->msg);
		pf_error_free(err);
	}
	pf_profile_clear(&prof);
}

/* First pass: structure of the whole file, row count, and with strict the
 * row problems, before anything is written. */
static struct pf_error *
first_pass(struct run *r)
{
	struct pf_error *err = NULL;
	struct pf_csv_row *row;
	struct pair pairs[MAX_TEMPLATES_PER_ROW];
	struct pf_buf msg = { 0 };
	char rowprob[512];
	size_t np, i;
	int shown = 0, nproblems = 0;

	for (;;) {
		if ((r->total & 4095) == 4095 && stopping(r))
			break;		/* a signal: pf_run() tells */
		if ((err = pf_csv_next(r->csv, &row)) != NULL)
			goto done;
		if (row == NULL)
			break;
		r->total++;
		/* Without --strict the row checks wait for the second pass;
		 * this one finds what is wrong with the file as a whole. */
		if (!r->o->strict)
			continue;
		if ((err = check_row(r, row, pairs, &np, rowprob,
		    sizeof(rowprob))) != NULL)
			goto done;
		for (i = 0; i < np; i++) {
			if (r->o->strict && pairs[i].problem[0] == '\0')
				trial_fill(r, row, &pairs[i]);
			if (pairs[i].problem[0] == '\0')
				continue;
			nproblems++;
			if (shown++ >= MAX_PROBLEMS_SHOWN)
				continue;
			if ((err = pf_buf_printf(&msg, "%s%s:%ld: ",
			    msg.len ? "\n" : "", pf_csv_path(r->csv),
			    row->line)) != NULL || (err = pf_buf_visible(&msg,
			    pairs[i].problem, 0)) != NULL)
				goto done;
		}
	}
	if (nproblems > 0 && !stopping(r)) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s%s%d problem%s, nothing "
		    "written (--strict)", msg.data, msg.len ? "\n" : "",
		    nproblems, nproblems == 1 ? "" : "s");
		goto done;
	}
	err = pf_csv_rewind(r->csv);
done:
	keyset_clear(&r->keys);
	pf_buf_free(&msg);
	return err;
}

/* Free and wipe what j holds; it is left all zero, SLOT_FREE. */
static void
job_clear(struct job *j)
{
	free(j->tname);
	free(j->user);
	free(j->values);
	free(j->error);
	free(j->attrs);
	if (j->out != NULL) {
		OPENSSL_cleanse(j->out, j->outlen);
		free(j->out);
	}
	pf_profile_clear(&j->prof);
	if (j->cur != NULL) {
		if (j->cur->fd >= 0)
			close(j->cur->fd);
		pf_current_clear(&j->cur->c);
		free(j->cur);
	}
	if (j->has_fd || j->keep)
		close(j->fd);
	OPENSSL_cleanse(j->digest, sizeof(j->digest));
	memset(j, 0, sizeof(*j));
}

/* Fill a job from the row (the values are copied: the row is reused). */
/*
 * What a good (user, template) pair needs, from its current profile:
 * nothing new when the template version, the user's attributes and an
 * unexpired challenge and the signer (or none: --unsigned) are the same
 * and its file is intact (checked by a worker); a new profile otherwise.
 * A challenge an administrator revoked stays revoked unless
 * --reissue-revoked.  A used challenge is not renewed: the device has
 * enrolled.
 */
static void
decide(struct run *r, struct job *j)
{
	const struct pf_current *c;

	if (j->cur == NULL) {
		j->action = ACT_ISSUE;
		return;
	}
	c = &j->cur->c;
	if (strcmp(c->revoked, "revoked") == 0 && !r->o->reissue_revoked) {
		j->action = ACT_REVOKED;
		return;
	}
	if (c->template_id != j->te->rec.id ||
	    strcmp(c->attrs_sha256, j->attrs_sha) != 0 ||
	    c->revoked[0] != '\0' ||
	    strcmp(c->out_dir, r->root) != 0 ||
	    strcmp(c->signer, r->o->signer != NULL ?
	    pf_signer_fingerprint(r->o->signer) : "") != 0)
		j->action = ACT_ISSUE;
	else if (c->challenge_id != 0 && !c->used &&
	    c->expires - r->now <= r->o->renew_before) {
		j->action = ACT_ISSUE;
		j->renew_only = 1;
	} else
		j->action = ACT_CHECK;
}

/*
 * The user's attributes as canonical JSON: non-empty columns other than
 * "template", by name, so that column order or an added empty column is
 * no change.
 */
static struct pf_error *
row_attrs(struct run *r, struct job *j)
{
	struct pf_error *err;
	struct pf_buf b = { 0 };
	size_t i, n = 0;

	if ((err = pf_buf_addstr(&b, "{")) != NULL)
		goto done;
	for (i = 0; i < r->nattr; i++) {
		size_t c = r->attr_order[i];

		if (j->values[c][0] == '\0')
			continue;
		if ((err = pf_buf_addstr(&b, n++ ? ", " : "")) != NULL ||
		    (err = pf_buf_json_str(&b, r->names[c],
		    strlen(r->names[c]))) != NULL ||
		    (err = pf_buf_addstr(&b, ": ")) != NULL ||
		    (err = pf_buf_json_str(&b, j->values[c],
		    strlen(j->values[c]))) != NULL)
			goto done;
	}
	if ((err = pf_buf_addstr(&b, "}")) != NULL)
		goto done;
	pf_sha256_hex(b.data, b.len, j->attrs_sha);
	j->attrs = b.data;
	b.data = NULL;
done:
	pf_buf_free(&b);
	return err;
}

static struct pf_error *
job_fill(struct run *r, struct job *j, const struct pf_csv_row *row,
    const struct pair *pr)
{
	size_t i, total = 0, ncopy;
	char *p;

	j->line = row->line;
	j->te = pr->problem[0] ? NULL : pr->te;
	if ((j->tname = malloc(pr->len + 1)) == NULL)
		return pf_error_nomem();
	memcpy(j->tname, pr->name, pr->len);
	j->tname[pr->len] = '\0';
	if ((size_t)r->keycol < row->nfields &&
	    (j->user = pf_strdup(row->fields[r->keycol])) == NULL)
		return pf_error_nomem();
	if (pr->problem[0]) {
		j->action = ACT_FAIL;
		return (j->error = pf_strdup(pr->problem)) ? NULL :
		    pf_error_nomem();
	}
	j->action = ACT_CHECK;		/* settled by a worker: decide() */
	ncopy = r->ncols;
	for (i = 0; i < ncopy; i++)
		total += row->lens[i] + 1;
	if ((j->values = malloc(ncopy * sizeof(char *) + total)) == NULL)
		return pf_error_nomem();
	p = (char *)(j->values + ncopy);
	for (i = 0; i < ncopy; i++) {
		j->values[i] = p;
		memcpy(p, row->fields[i], row->lens[i] + 1);
		p += row->lens[i] + 1;
	}
	return NULL;
}

/* The reader: second pass over the CSV, feeding the ring in order. */
static struct pf_error *
reader(struct run *r)
{
	struct pf_error *err = NULL;
	struct pf_csv_row *row;
	struct pair pairs[MAX_TEMPLATES_PER_ROW];
	char rowprob[512];
	size_t np, i;

	for (;;) {
		if ((err = pf_csv_next(r->csv, &row)) != NULL)
			goto done;
		if (row == NULL)
			goto done;
		if ((err = check_row(r, row, pairs, &np, rowprob,
		    sizeof(rowprob))) != NULL)
			goto done;
		for (i = 0; i < np; i++) {
			struct job *j;

			pthread_mutex_lock(&r->mu);
			while (!r->stop && r->next_fill - r->next_free >=
			    PF_PIPE_WINDOW)
				pthread_cond_wait(&r->cv_read, &r->mu);
			if (r->stop) {
				pthread_mutex_unlock(&r->mu);
				goto done;
			}
			j = &r->ring[r->next_fill % PF_PIPE_WINDOW];
			pthread_mutex_unlock(&r->mu);

			/* The slot is free and only the reader fills it. */
			j->seq = r->next_fill;
			j->row_end = i == np - 1;
			if ((err = job_fill(r, j, row, &pairs[i])) != NULL) {
				job_clear(j);
				goto done;
			}
			pthread_mutex_lock(&r->mu);
			j->state = SLOT_READY;
			r->next_fill++;
			pthread_mutex_unlock(&r->mu);
			pthread_cond_signal(&r->cv_work);
		}
	}
done:
	return err;
}

/* A worker's open run folder: most current profiles a rerun checks are in
 * the same one. */
struct rundir {
	char *out_dir;		/* malloc'd, NULL if none open */
	char *run;		/* malloc'd */
	int fd;			/* -1 if none open */
};

static void
rundir_close(struct rundir *rd)
{
	if (rd->fd != -1)
		close(rd->fd);
	free(rd->out_dir);
	free(rd->run);
	rd->out_dir = rd->run = NULL;
	rd->fd = -1;
}

/* The folder of c's run, opened unless it is the one rd holds; -1 with
 * errno if it cannot be opened. */
static int
rundir_open(struct rundir *rd, const struct pf_current *c)
{
	char path[4096];

	if (rd->fd != -1 && strcmp(rd->out_dir, c->out_dir) == 0 &&
	    strcmp(rd->run, c->run) == 0)
		return rd->fd;
	rundir_close(rd);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", c->out_dir,
	    c->run) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((rd->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return -1;
	if ((rd->out_dir = pf_strdup(c->out_dir)) == NULL ||
	    (rd->run = pf_strdup(c->run)) == NULL) {
		rundir_close(rd);
		errno = ENOMEM;
	}
	return rd->fd;
}

static long long
ns(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* The file is as its run left it, so that it need not be read back: the
 * inode, size and modification time it had when it was written, and the
 * change time it had once it was linked into OUT/current/ (every write,
 * rename over it, link, and change of mode or times sets that; see
 * sql/003_file_stat.sql). */
static int
file_settled(const struct pf_current *c, const struct stat *st)
{
	return c->file_ino != 0 && c->file_ctime != 0 &&
	    S_ISREG(st->st_mode) && (long long)st->st_ino == c->file_ino &&
	    st->st_size == c->bytes && ns(&st->st_mtim) == c->file_mtime &&
	    ns(&st->st_ctim) == c->file_ctime;
}

/* Out of descriptors or memory: says nothing about the file. */
static int
short_of(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM;
}

/*
 * Open the current profile's file to check it, if it is there with its
 * recorded size, and ask the kernel to read it in meanwhile: a worker
 * opens a claim of files before it reads the first, so that a rerun with
 * a cold cache waits for many reads at once, not one by one.  FD_UNFIT in
 * cu->fd if the file is not fit; -1 with errno, and FD_LATER, if the
 * process is short of descriptors or memory, which says nothing about
 * the file.
 */
static int
file_open(struct rundir *rd, struct cur *cu)
{
	const struct pf_current *c = &cu->c;
	int dfd, fd;

	cu->fd = FD_UNFIT;
	if ((dfd = rundir_open(rd, c)) != -1 && c->file_ctime != 0 &&
	    !cu->reread &&
	    fstatat(dfd, c->file, &cu->st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    file_settled(c, &cu->st)) {
		cu->fd = FD_SETTLED;
		return 0;
	}
	if (dfd == -1 || (fd = openat(dfd, c->file,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (!short_of(errno))
			return 0;
		cu->fd = FD_LATER;
		return -1;
	}
	if (fstat(fd, &cu->st) == 0 && S_ISREG(cu->st.st_mode) &&
	    cu->st.st_size == c->bytes && c->bytes <= 64 * 1024 * 1024) {
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		cu->fd = fd;
	} else
		close(fd);
	return 0;
}

/* *ok: the current profile's file has its recorded digest; the file is
 * closed.  An error if it cannot be told. */
static struct pf_error *
file_intact(struct rundir *rd, struct cur *cu, int *ok)
{
	const struct pf_current *c = &cu->c;
	char sha[PF_SHA256_HEX];
	uint8_t *buf;
	ssize_t n;

	*ok = 0;
	if (cu->fd == FD_LATER && file_open(rd, cu) == -1)
		return pf_error_errno(PF_EX_IOERR, "check %s/%s/%s",
		    c->out_dir, c->run, c->file);
	if (cu->fd == FD_SETTLED) {
		*ok = 1;
		return NULL;
	}
	if (cu->fd < 0)
		return NULL;
	if ((buf = malloc((size_t)c->bytes + 1)) == NULL)
		return pf_error_nomem();
	n = read(cu->fd, buf, (size_t)c->bytes + 1);
	if (n == c->bytes) {
		pf_sha256_hex(buf, (size_t)n, sha);
		*ok = strcmp(sha, c->sha256) == 0;
		cu->verified = *ok;
	}
	OPENSSL_cleanse(buf, (size_t)c->bytes + 1);
	free(buf);
	close(cu->fd);
	cu->fd = FD_UNFIT;
	return NULL;
}

/* Read this run's sixteenth of the files: drawn afresh for each run (from
 * the profile's id, the run's and its start), so that no profile is left
 * out by how the runs that check it are numbered. */
static int
reread(const struct run *r, long long profile_id)
{
	uint64_t x = (uint64_t)profile_id * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)r->rec->id * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)r->now;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return x % REREAD_EVERY == 0;
}

/* What a job needs: its current profile looked up, the action decided,
 * the file to check opened while *ahead allows (it counts the files held
 * open down). */
static struct pf_error *
prepare(struct run *r, struct pf_store_lookup *lk, struct rundir *rd,
    struct job *j, size_t *ahead)
{
	struct pf_error *err;
	int has;

	if ((err = row_attrs(r, j)) != NULL)
		return err;
	if (r->any_profiles) {
		struct pf_current c;

		if ((err = pf_store_current(lk, j->user, j->te->name, &c,
		    &has)) != NULL)
			return err;
		if (has && (j->cur = calloc(1, sizeof(*j->cur))) == NULL) {
			pf_current_clear(&c);
			return pf_error_nomem();
		}
		if (has) {
			j->cur->c = c;	/* its strings go with it */
			j->cur->fd = FD_UNFIT;
		}
	}
	decide(r, j);
	if (j->action != ACT_CHECK)
		return NULL;
	/* What its metadata cannot show (the bytes changed under the file
	 * system, or by a write whose new times a crash lost) shows when
	 * the file is read: every so many runs each one is. */
	j->cur->reread = reread(r, j->cur->c.profile_id);
	if (*ahead == 0)
		j->cur->fd = FD_LATER;
	else if (file_open(rd, j->cur) == -1)
		*ahead = 0;	/* the rest are opened as they are checked */
	else if (j->cur->fd >= 0)
		(*ahead)--;
	return NULL;
}

/* The file open as fd, or name in the folder fd (a symbolic link not
 * followed). */
static int
stat_at(int fd, const char *name, struct stat *st)
{
	return name == NULL ? fstat(fd, st) : fstatat(fd, name, st,
	    AT_SYMLINK_NOFOLLOW);
}

/* What the file j wrote is like now (fd, or name in the run folder):
 * recorded for the reruns' check (file_settled()) once it is linked. */
static void
written_as(struct job *j, int fd, const char *name)
{
	struct stat st;

	j->ino = j->ctime = 0;
	if (stat_at(fd, name, &st) == 0 && st.st_ino != 0) {
		j->ino = (long long)st.st_ino;
		j->mtime = ns(&st.st_mtim);
		j->ctime = ns(&st.st_ctim);
	}
}

/*
 * The change time of j's file (fd, or name in the folder fd) as this
 * run's last step on it left it, kept from step to step: before = 1 just
 * before a step that sets it (naming, linking into OUT/current/), which
 * forgets it (0) if the file changed since the step before, else
 * before = 0 just after, which takes the new one.  A change made between
 * two steps, whose times were put back, is not hidden by the next step:
 * its file is read by the next rerun (file_settled()).
 */
static void
ctime_step(struct job *j, int fd, const char *name, int before)
{
	struct stat st;

	if (j->ctime == 0)
		return;
	if (stat_at(fd, name, &st) == -1 || (before &&
	    ns(&st.st_ctim) != j->ctime))
		j->ctime = 0;
	else if (!before)
		j->ctime = ns(&st.st_ctim);
}

/* Build, sign and hash one prepared profile.  Problems with the user's
 * data fail the row (j->error); anything else is fatal. */
static struct pf_error *
work(struct run *r, struct pf_sign_ctx *sc, struct rundir *rd, struct job *j)
{
	struct pf_error *err = NULL;
	struct pf_profile_vars v;
	char chal[PF_CHALLENGE_LEN + 1] = "";
	int ok;

	if (j->action == ACT_REVOKED)
		return NULL;
	if (j->action == ACT_CHECK) {
		if ((err = file_intact(rd, j->cur, &ok)) != NULL)
			return err;
		if (ok) {
			j->action = ACT_UNCHANGED;
			return NULL;
		}
		j->action = ACT_ISSUE;
	}
	if (pf_template_has_challenge(j->te->t)) {
		if ((err = pf_challenge_new(chal, j->digest)) != NULL)
			goto done;
		j->has_digest = 1;
	}
	memset(&v, 0, sizeof(v));
	v.names = r->names;
	v.values = (const char *const *)j->values;
	v.ncols = r->ncols;
	v.user = j->user;
	v.template_name = j->te->name;
	v.run = r->rec->name;
	v.challenge = chal;
	err = pf_profile_build(j->te->t, &v, &j->prof);
	OPENSSL_cleanse(chal, sizeof(chal));
	if (err != NULL) {
		if (err->code != PF_EX_DATAERR)
			goto done;
		j->action = ACT_FAIL;
		j->error = pf_strdup(err->msg);
		pf_error_free(err);
		err = j->error ? NULL : pf_error_nomem();
		goto done;
	}
	if (sc != NULL) {
		err = pf_sign(sc, j->prof.xml, j->prof.len, &j->out,
		    &j->outlen);
		OPENSSL_cleanse(j->prof.xml, j->prof.len);
		free(j->prof.xml);
	} else {
		j->out = (uint8_t *)j->prof.xml;
		j->outlen = j->prof.len;
	}
	j->prof.xml = NULL;
	j->prof.len = 0;
	if (err != NULL)
		goto done;
	pf_sha256_hex(j->out, j->outlen, j->sha);
	pf_safe_path(r->o->layout, j->user, j->te->name, ".mobileconfig",
	    j->file, sizeof(j->file));
	if (r->anon && !r->o->dry_run) {
		/* The file is written here, in parallel; the writer names
		 * it, in order. */
		if ((err = pf_outdir_write_anon(r->od, j->out, j->outlen,
		    j->file, &j->fd)) != NULL)
			goto done;
		j->has_fd = 1;
		written_as(j, j->fd, NULL);
		OPENSSL_cleanse(j->out, j->outlen);
		free(j->out);
		j->out = NULL;
	}
done:
	return err;
}

/* Under r->mu: WRITER_WAKE jobs in a row from the writer's next one are
 * finished, or every job read so far is. */
static int
writer_has_work(const struct run *r)
{
	unsigned long long s;

	for (s = r->next_write; s < r->next_fill &&
	    s - r->next_write < WRITER_WAKE; s++)
		if (r->ring[s % PF_PIPE_WINDOW].state != SLOT_DONE)
			return 0;
	return 1;
}

struct worker_arg {
	struct run *r;
	pthread_t tid;
};

static void *
worker(void *arg)
{
	struct run *r = ((struct worker_arg *)arg)->r;
	struct pf_sign_ctx *sc = NULL;
	struct pf_store_lookup *lk = NULL;
	struct pf_db *rdb = NULL;
	struct rundir rd = { NULL, NULL, -1 };
	struct pf_error *err;
	unsigned long done = 0;
	int prio, failed = 0;

	name_thread("pf-worker");

	/*
	 * Workers run at a lower priority than the other threads: the writer
	 * and publisher are one thread each and must keep up, or the window
	 * fills and the workers wait anyway.  When they are not runnable the
	 * workers have the cores to themselves.
	 */
	errno = 0;
	prio = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), prio +
		    WORKER_NICE);

	/* Each worker looks up current profiles on its own connection, in
	 * one read transaction. */
	if ((err = pf_db_open(&rdb, r->db->path, 0)) != NULL ||
	    (err = pf_store_lookup_new(&lk, rdb)) != NULL ||
	    (err = pf_db_exec(rdb, "BEGIN")) != NULL ||
	    (r->o->signer != NULL &&
	    (err = pf_sign_ctx_new(&sc, r->o->signer)) != NULL)) {
		set_fatal(r, err);
		goto out;
	}
	for (;;) {
		struct job *claim[WORKER_CLAIM];
		size_t n, i, want, ahead = r->ahead;
		int wake;

		/* A claim: the next jobs read, each prepared before the first
		 * is worked; up to WORKER_CLAIM, and no more than a share of
		 * those waiting, so that the workers end together. */
		pthread_mutex_lock(&r->mu);
		while (!r->stop && !r->eof && r->next_work == r->next_fill)
			pthread_cond_wait(&r->cv_work, &r->mu);
		if (r->stop || r->next_work == r->next_fill) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		want = (size_t)((r->next_fill - r->next_work +
		    (unsigned long long)r->o->jobs - 1) /
		    (unsigned long long)r->o->jobs);
		for (n = 0; n < WORKER_CLAIM && n < want; n++) {
			claim[n] = &r->ring[r->next_work++ % PF_PIPE_WINDOW];
			claim[n]->state = SLOT_BUSY;
		}
		pthread_mutex_unlock(&r->mu);

		err = NULL;
		for (i = 0; i < n && err == NULL; i++)
			if (claim[i]->action != ACT_FAIL)
				err = prepare(r, lk, &rd, claim[i], &ahead);
		for (i = 0; i < n; i++) {
			struct job *j = claim[i];

			if (err == NULL && j->action != ACT_FAIL)
				err = work(r, sc, &rd, j);
			/* A fresh snapshot now and then lets SQLite
			 * checkpoint the writer's log. */
			if (err == NULL && ++done % 4096 == 0)
				err = pf_db_exec(rdb, "COMMIT; BEGIN");
			/* Stopped before the writer can take a job that
			 * was not done. */
			if (err != NULL && !failed) {
				set_fatal(r, err);
				failed = 1;
			}

			/* (the wake-up after the unlock: the writer wakes
			 * to a free lock) */
			pthread_mutex_lock(&r->mu);
			j->state = SLOT_DONE;
			wake = r->writer_waiting && writer_has_work(r);
			pthread_mutex_unlock(&r->mu);
			if (wake)
				pthread_cond_signal(&r->cv_write);
		}
		if (failed)
			break;
	}
out:
	rundir_close(&rd);
	pf_sign_ctx_free(sc);
	pf_store_lookup_free(lk);
	pf_db_close(rdb);
	return NULL;
}

/* The path of a current profile relative to this run's directory. */
static void
cur_relpath(const struct pf_current *c, char *buf, size_t len)
{
	snprintf(buf, len, "../%s/%s", c->run, c->file);
}

static void unwrite(struct run *, struct job *);

/*
 * Did the job's current challenge change after the job was decided?  Its
 * decision came from a snapshot of the database; the check runs in the
 * transaction that records it.  Revoked (`profactory revoke`): that
 * stays, so the job is not issued again, and its unchanged profile leaves
 * OUT/current/.  Used (verify-csr approved it) when the job was to renew
 * it only because it was expiring: a used challenge is not renewed (the
 * device has enrolled, and a retry of its request must still pass), so
 * the profile stays as it was.
 */
static struct pf_error *
changed_meanwhile(struct run *r, struct job *j)
{
	struct pf_error *err;
	int revoked, used;

	if (!r->others_wrote || r->o->dry_run || j->cur == NULL ||
	    j->cur->c.challenge_id == 0 ||
	    (j->action != ACT_ISSUE && j->action != ACT_UNCHANGED))
		return NULL;
	if ((err = pf_store_challenge_now(r->sw, j->cur->c.challenge_id,
	    r->now, &revoked, &used)) != NULL)
		return err;
	if (revoked) {
		if (j->action == ACT_ISSUE)
			unwrite(r, j);
		j->action = ACT_REVOKED;
	} else if (used && j->action == ACT_ISSUE && j->renew_only) {
		unwrite(r, j);
		j->action = ACT_UNCHANGED;
	}
	return NULL;
}

/* The manifest row and the record of one finished job (inside the batch
 * transaction). */
static struct pf_error *
record(struct run *r, struct job *j, struct pf_manifest_row *mr)
{
	struct pf_error *err;
	struct pf_issue is;
	long long cid = 0;
	int reissued = j->cur != NULL;

	if (r->o->prune && j->user != NULL && j->user[0] != '\0') {
		int dup;

		/* a dry run counts against the same keys (count_absent()) */
		if ((err = r->o->dry_run ? keyset_add(&r->seen, j->user,
		    &dup) : pf_store_seen(r->sw, j->user)) != NULL)
			return err;
	}
	if ((err = changed_meanwhile(r, j)) != NULL)
		return err;
	switch (j->action) {
	case ACT_FAIL:
		if (r->rec->n_failed++ < MAX_ROW_WARNINGS)
			pf_warnf(r->o->warn, "%s:%ld: %s; skipped",
			    pf_csv_path(r->csv), j->line, j->error);
		mr->status = "failed";
		mr->template_version = j->te ? j->te->rec.version : 0;
		mr->error = j->error;
		if (!r->o->dry_run)
			return pf_store_failure(r->sw, r->rec->id, j->line,
			    j->user, j->tname, j->error);
		return NULL;
	case ACT_UNCHANGED:
	case ACT_REVOKED:
		if (j->action == ACT_UNCHANGED) {
			r->rec->n_unchanged++;
			mr->status = "unchanged";
		} else {
			r->rec->n_revoked++;
			mr->status = "revoked";
		}
		mr->template_version = j->cur->c.version;
		cur_relpath(&j->cur->c, j->file, sizeof(j->file));
		mr->file = j->file;
		mr->sha256 = j->cur->c.sha256;
		mr->bytes = j->cur->c.bytes;
		mr->payload_identifier = j->cur->c.identifier;
		mr->challenge_id = j->cur->c.challenge_id;
		mr->challenge_expires = j->cur->c.expires;
		return NULL;
	}
	memset(&is, 0, sizeof(is));
	is.run_id = r->rec->id;
	is.user = j->user;
	is.attrs = j->attrs;
	is.attrs_sha256 = j->attrs_sha;
	is.template_id = j->te->rec.id;
	is.had_current = j->cur != NULL;
	is.file = j->file;
	is.sha256 = j->sha;
	is.bytes = (long long)j->outlen;
	is.payload_identifier = j->prof.identifier;
	is.payload_uuid = j->prof.uuid;
	is.digest = j->has_digest ? j->digest : NULL;
	is.now = r->now;
	is.expires = r->now + r->o->ttl;
	is.bindings = j->prof.bindings;
	is.nbindings = j->prof.nbindings;
	if (!r->o->dry_run && (err = pf_store_issue(r->sw, &is,
	    &j->profile_id, &cid, &reissued)) != NULL)
		return err;
	if (reissued)
		r->rec->n_reissued++;
	else
		r->rec->n_issued++;
	mr->status = reissued ? "reissued" : "issued";
	mr->template_version = j->te->rec.version;
	mr->file = r->o->dry_run ? NULL : j->file;
	mr->sha256 = j->sha;
	mr->bytes = (long long)j->outlen;
	mr->payload_identifier = j->prof.identifier;
	mr->challenge_id = cid;
	mr->challenge_expires = j->has_digest ? is.expires : 0;
	return NULL;
}

/*
 * An unchanged profile whose file was read and found intact, though its
 * recorded identity did not show it (a new mode, a copy with the same
 * bytes, a link made again, a profile recorded before schema version 3):
 * the identity it had before it was read is recorded, so that the next
 * rerun need not read it again; unless the file changed since (a link
 * just made again into OUT/current/ sets its change time: the next rerun
 * reads it once more).
 */
static void
reidentify(struct job *j, const char *path)
{
	const struct stat *was = &j->cur->st;
	const struct pf_current *c = &j->cur->c;
	struct stat st;

	if (stat_at(AT_FDCWD, path, &st) == -1 ||
	    st.st_ino != was->st_ino || st.st_size != was->st_size ||
	    ns(&st.st_mtim) != ns(&was->st_mtim) ||
	    ns(&st.st_ctim) != ns(&was->st_ctim))
		return;
	if (file_settled(c, &st))
		return;		/* as recorded (read in its turn) */
	j->profile_id = c->profile_id;
	j->ino = (long long)st.st_ino;
	j->mtime = ns(&st.st_mtim);
	j->ctime = ns(&st.st_ctim);
}

/* OUT/current/ after a job is recorded: a new profile in, a revoked one
 * out, the missing link of an unchanged one back. */
static struct pf_error *
publish(struct run *r, struct job *j)
{
	struct pf_error *err;
	const char *name;
	char path[4096];
	int fd;

	switch (j->action) {
	case ACT_ISSUE:
		if (j->cur != NULL && strcmp(j->cur->c.file, j->file) != 0)
			pf_outdir_unpublish(r->od, j->cur->c.file);
		/* Its last link: its change time then is what a rerun
		 * compares (file_settled()). */
		fd = j->keep ? j->fd : r->od->runfd;
		name = j->keep ? NULL : j->file;
		ctime_step(j, fd, name, 1);
		if ((err = pf_outdir_publish(r->od, r->od->runfd, j->file,
		    j->file, j->cur != NULL ? 0 : -1, NULL)) != NULL)
			return err;
		ctime_step(j, fd, name, 0);
		/* Written back (synced before it was recorded): its pages
		 * go back to the kernel for the next files, rather than new
		 * memory. */
		if (j->keep)
			(void)posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED);
		return NULL;
	case ACT_UNCHANGED:
		snprintf(path, sizeof(path), "%s/%s/%s", j->cur->c.out_dir,
		    j->cur->c.run, j->cur->c.file);
		/* (not checked when it was to be renewed, see
		 * changed_meanwhile()) */
		if ((err = pf_outdir_publish(r->od, AT_FDCWD, path,
		    j->cur->c.file, 1, j->renew_only ? NULL : &j->cur->st)) !=
		    NULL)
			return err;
		if (j->cur->verified)
			reidentify(j, path);
		return NULL;
	case ACT_REVOKED:
		pf_outdir_unpublish(r->od, j->cur->c.file);
		break;
	}
	return NULL;
}

static void
current_remove(void *arg, const char *out_dir, const char *file)
{
	(void)arg;
	pf_current_remove(out_dir, file);
}

static struct pf_error *
unpublish_user(void *arg, const char *key, const char *tmpl)
{
	struct run *r = arg;

	return pf_store_current_files(r->db, key, tmpl, current_remove, NULL);
}

/*
 * Once the publisher is done: users revoked while the run went on leave
 * OUT/current/.  `revoke` removes their links itself, but the publisher
 * may have linked a profile again after that.
 */
static struct pf_error *
unpublish_revoked(struct run *r)
{
	struct pf_error *err;
	long long dv;

	if ((err = pf_db_data_version(r->db, &dv)) != NULL)
		return err;
	if (dv == r->dv0)	/* nobody else committed: nothing revoked */
		return NULL;
	return pf_store_revocations_since(r->db, r->now, unpublish_user, r);
}

/* Remove what a job that was not recorded wrote. */
static void
unwrite(struct run *r, struct job *j)
{
	if (j->tmp[0] != '\0')
		unlinkat(r->od->runfd, j->tmp, 0);
	else if (j->written)
		pf_outdir_remove(r->od, j->file);
	j->tmp[0] = '\0';
	j->written = 0;
}

/* Give the batch's files their names where a worker could not (named
 * temporaries are renamed); *nnew counts its new files. */
static struct pf_error *
name_batch(struct run *r, struct job **batch, size_t n, int *nnew)
{
	struct pf_error *err;
	char want[sizeof(batch[0]->file)];
	size_t i;

	*nnew = 0;
	if (r->o->dry_run)
		return NULL;
	for (i = 0; i < n; i++) {
		struct job *j = batch[i];

		if (j->action != ACT_ISSUE)
			continue;
		(*nnew)++;
		if (j->tmp[0] == '\0')
			continue;	/* named already */
		memcpy(want, j->file, sizeof(want));
		ctime_step(j, r->od->runfd, j->tmp, 1);
		if ((err = pf_outdir_commit(r->od, j->tmp, want, j->file,
		    sizeof(j->file))) != NULL)
			return err;
		j->tmp[0] = '\0';
		j->written = 1;
		ctime_step(j, r->od->runfd, j->file, 0);
	}
	return NULL;
}

/* Ask the syncer for a syncfs(2) that starts after now; returns the number
 * to wait for. */
static unsigned long
request_sync(struct run *r)
{
	unsigned long need;

	pthread_mutex_lock(&r->mu);
	need = ++r->sync_req;
	pthread_cond_broadcast(&r->cv_sync);
	pthread_mutex_unlock(&r->mu);
	return need;
}

/*
 * Record the files the publisher has queued, inside the caller's
 * transaction.  A file whose change time is not recorded (the run stopped
 * first) is read by the next rerun.
 */
static struct pf_error *
record_files(struct run *r)
{
	struct pf_error *err;
	struct file_rec *q;
	size_t i, n;

	if (r->ctq == NULL)
		return NULL;
	pthread_mutex_lock(&r->mu);
	q = r->ctq;
	n = r->nctq;
	r->ctq = r->ctq_rec;
	r->ctq_rec = q;
	r->nctq = 0;
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < n; i++)
		if ((err = pf_store_file_stat(r->sw, q[i].profile_id,
		    q[i].ino, q[i].mtime, q[i].ctime)) != NULL)
			return err;
	return NULL;
}

/*
 * Batches whose files are named, from the oldest pending one: once a sync
 * requested after its naming has finished, record it in one transaction,
 * with every batch after it whose sync has finished too, and hand them to
 * the publisher; *nb is how many.  Recording several batches at once
 * writes each page of the random-order indexes (challenge digests, user
 * keys, file names) once for all of them.  On error nothing of them is
 * recorded.
 */
static struct pf_error *
settle(struct run *r, size_t *nb)
{
	struct pf_error *err = NULL;
	struct pend *b;
	long long counts[5] = { r->rec->n_issued, r->rec->n_reissued,
	    r->rec->n_unchanged, r->rec->n_revoked, r->rec->n_failed };
	size_t i, k, n = 0;
	int intx = 0, failed;

	*nb = 0;
	pthread_mutex_lock(&r->mu);
	b = &r->pend[r->pend_head];
	while (b->need > 0 && r->sync_done < b->need && !r->sync_failed)
		pthread_cond_wait(&r->cv_sync, &r->mu);
	failed = r->sync_failed;
	for (k = 1; k < r->pend_count; k++) {
		b = &r->pend[(r->pend_head + k) % PEND_SLOTS];
		if (b->need > r->sync_done)
			break;
	}
	pthread_mutex_unlock(&r->mu);
	if (failed)
		return pf_error_fmt(PF_EX_IOERR, "%s/%s: not synced",
		    r->od->root, r->od->run);
	if (!r->o->dry_run) {
		long long dv;

		if ((err = pf_db_begin(r->db)) != NULL)
			return err;
		intx = 1;
		if (!r->others_wrote) {
			if ((err = pf_db_data_version(r->db, &dv)) != NULL)
				goto done;
			r->others_wrote = dv != r->dv0;
		}
		if ((err = record_files(r)) != NULL)
			goto done;
	}
	for (*nb = 0; *nb < k; (*nb)++) {
		b = &r->pend[(r->pend_head + *nb) % PEND_SLOTS];
		for (i = 0; i < b->n; i++) {
			struct job *j = b->jobs[i];
			struct pf_manifest_row *mr = &j->mr;

			memset(mr, 0, sizeof(*mr));
			mr->line = j->line;
			mr->user = j->user ? j->user : "";
			mr->template_name = j->tname;
			mr->bytes = -1;
			if ((err = record(r, j, mr)) != NULL)
				goto done;
		}
		n += b->n;
	}
	if (intx) {
		if ((err = pf_db_commit(r->db)) != NULL)
			goto done;
		intx = 0;
	}
	pthread_mutex_lock(&r->mu);
	r->next_commit += n;
	pthread_cond_signal(&r->cv_pub);
	pthread_mutex_unlock(&r->mu);
done:
	if (err != NULL) {
		*nb = 0;
		if (intx)
			pf_db_rollback(r->db);
		/* the run's counts are of what is recorded */
		r->rec->n_issued = counts[0];
		r->rec->n_reissued = counts[1];
		r->rec->n_unchanged = counts[2];
		r->rec->n_revoked = counts[3];
		r->rec->n_failed = counts[4];
	}
	return err;
}

/*
 * The syncer thread: flushes the file system when the writer asks, so
 * that the writer names the next batch while the last one is synced.
 */
static void *
syncer(void *arg)
{
	struct run *r = arg;
	struct pf_error *err;
	unsigned long target;

	name_thread("pf-syncer");
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->sync_quit && r->sync_done == r->sync_req)
			pthread_cond_wait(&r->cv_sync, &r->mu);
		if (r->sync_done == r->sync_req)
			break;
		target = r->sync_req;
		pthread_mutex_unlock(&r->mu);
		err = pf_outdir_sync(r->od);
		if (err != NULL)
			set_fatal(r, err);
		pthread_mutex_lock(&r->mu);
		if (err != NULL)
			r->sync_failed = 1;
		r->sync_done = target;
		pthread_cond_broadcast(&r->cv_sync);
		if (err != NULL)
			break;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* A new profile reaches the writer: the file a worker wrote gets its name
 * now; or its bytes go to a named temporary, renamed by name_batch(). */
static struct pf_error *
take(struct run *r, struct job *j)
{
	struct pf_error *err;
	char want[sizeof(j->file)];

	if (!j->has_fd) {
		if ((err = pf_outdir_write_tmp(r->od, j->out, j->outlen,
		    j->tmp, sizeof(j->tmp))) == NULL)
			written_as(j, r->od->runfd, j->tmp);
		return err;
	}
	memcpy(want, j->file, sizeof(want));
	err = pf_outdir_link_anon(r->od, j->fd, want, j->file,
	    sizeof(j->file));
	j->has_fd = 0;
	if (err == NULL) {
		j->written = 1;
		j->keep = 1;	/* closed by job_clear() */
		/* (unnamed until now, it could not change) */
		ctime_step(j, j->fd, NULL, 0);
	} else
		close(j->fd);
	return err;
}

/* The writer thread: takes finished jobs in order and names their files;
 * each full batch goes to the recorder. */
static void *
writer(void *arg)
{
	struct run *r = arg;
	struct pend *cur;
	struct pf_error *err = NULL;
	size_t n = 0, i;
	int nnew;

	name_thread("pf-writer");
	pthread_mutex_lock(&r->mu);
	cur = &r->pend[(r->pend_head + r->pend_count) % PEND_SLOTS];
	pthread_mutex_unlock(&r->mu);
	for (;;) {
		struct job *j;
		unsigned long long left;
		int last, stop, tail;

		pthread_mutex_lock(&r->mu);
		for (;;) {
			j = &r->ring[r->next_write % PF_PIPE_WINDOW];
			if (r->stop || (r->next_write < r->next_fill &&
			    j->state == SLOT_DONE) ||
			    (r->eof && r->next_write == r->next_fill))
				break;
			r->writer_waiting = 1;
			pthread_cond_wait(&r->cv_write, &r->mu);
			r->writer_waiting = 0;
		}
		stop = r->stop;
		last = stop || r->next_write == r->next_fill;
		if (!last)
			r->next_write++;
		left = r->next_fill - r->next_write;
		tail = r->eof && left > 0 && r->ring[r->next_write %
		    PF_PIPE_WINDOW].state != SLOT_DONE;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		if (!last) {
			if (j->action == ACT_ISSUE && !r->o->dry_run &&
			    (err = take(r, j)) != NULL)
				break;
			if (j->out != NULL) {
				OPENSSL_cleanse(j->out, j->outlen);
				free(j->out);
				j->out = NULL;
			}
			cur->jobs[n++] = j;
		}
		if (n == PF_PIPE_BATCH || (last && n > 0) ||
		    (tail && n >= TAIL_BATCH && n >= left)) {
			if ((err = name_batch(r, cur->jobs, n, &nnew)) != NULL)
				break;
			cur->n = n;
			cur->need = nnew > 0 ? request_sync(r) : 0;
			n = 0;
			/* to the recorder; wait for a free slot */
			pthread_mutex_lock(&r->mu);
			r->pend_count++;
			pthread_cond_broadcast(&r->cv_rec);
			while (!r->stop && r->pend_count == PEND_SLOTS)
				pthread_cond_wait(&r->cv_rec, &r->mu);
			cur = &r->pend[(r->pend_head + r->pend_count) %
			    PEND_SLOTS];
			stop = r->stop;
			pthread_mutex_unlock(&r->mu);
			if (stop)
				break;
		}
		if (last)
			break;
	}
	/* Files of a batch the recorder never got are not recorded. */
	for (i = 0; i < n; i++)
		unwrite(r, cur->jobs[i]);
	if (err != NULL)
		set_fatal(r, err);
	pthread_mutex_lock(&r->mu);
	r->writer_done = 1;
	pthread_cond_broadcast(&r->cv_rec);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/*
 * The recorder thread: takes the writer's named batches in order and,
 * each once a sync started after its naming has finished, records it and
 * hands it to the publisher (batches that are ready together, in one
 * transaction).  Up to PEND_SLOTS - 1 batches wait for their sync, so a
 * slow sync does not stop the naming of the next ones, and one sync
 * covers all the batches named before it started.
 */
static void *
recorder(void *arg)
{
	struct run *r = arg;
	struct pf_error *err = NULL;
	struct pend *b;
	size_t i, k, nb;

	name_thread("pf-recorder");
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (!r->stop && r->pend_count == 0 && !r->writer_done)
			pthread_cond_wait(&r->cv_rec, &r->mu);
		if (r->stop || r->pend_count == 0) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		pthread_mutex_unlock(&r->mu);
		if ((err = settle(r, &nb)) != NULL)
			break;
		pthread_mutex_lock(&r->mu);
		r->pend_head = (r->pend_head + nb) % PEND_SLOTS;
		r->pend_count -= nb;
		pthread_cond_broadcast(&r->cv_rec);
		pthread_mutex_unlock(&r->mu);
	}
	if (err != NULL)
		set_fatal(r, err);
	/* Stopping: once the writer is done, files of the batches not
	 * recorded go. */
	pthread_mutex_lock(&r->mu);
	while (!r->writer_done)
		pthread_cond_wait(&r->cv_rec, &r->mu);
	pthread_mutex_unlock(&r->mu);
	for (k = 0; k < r->pend_count; k++) {
		b = &r->pend[(r->pend_head + k) % PEND_SLOTS];
		for (i = 0; i < b->n; i++)
			unwrite(r, b->jobs[i]);
	}
	r->pend_count = 0;
	pthread_mutex_lock(&r->mu);
	r->recorder_done = 1;
	pthread_cond_signal(&r->cv_pub);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/*
 * The publisher thread: after the writer has recorded them, jobs in order
 * get their OUT/current/ links and manifest rows, then their slots are
 * free.  Recorded jobs are published even when the run is stopping, or
 * after a link or manifest row failed (a full disk), so that OUT/current/
 * follows the database: a profile left there whose challenge the run
 * superseded could not enrol.  The manifest of a failed run is thrown
 * away anyway.
 */
static void *
publisher(void *arg)
{
	struct run *r = arg;
	struct pf_error *err;
	unsigned long long from, to, s;
	long long done = 0;		/* CSV rows */
	int failed = 0;

	name_thread("pf-publisher");
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (r->next_free == r->next_commit && !r->recorder_done)
			pthread_cond_wait(&r->cv_pub, &r->mu);
		from = r->next_free;
		to = r->next_commit;
		if (to - from > PF_PIPE_BATCH)
			to = from + PF_PIPE_BATCH;
		pthread_mutex_unlock(&r->mu);
		if (from == to)
			break;		/* the writer is done, all published */
		for (s = from; s < to; s++) {
			struct job *j = &r->ring[s % PF_PIPE_WINDOW];

			err = NULL;
			if (!r->o->dry_run)
				err = publish(r, j);
			if (err == NULL && !failed && r->man != NULL)
				err = pf_manifest_add(r->man, &j->mr);
			if (err != NULL && failed++ == 0)
				set_fatal(r, err);	/* it stops the run */
			else
				pf_error_free(err);
			done += j->row_end;
		}
		/* Done with by every other thread (recorded, and the reader
		 * refills a slot only once next_free has passed it): cleared
		 * (state SLOT_FREE) without the lock, which the others keep
		 * taking meanwhile; the change times of its new files go to
		 * the recorder first. */
		pthread_mutex_lock(&r->mu);
		for (s = from; s < to && r->ctq != NULL; s++) {
			struct job *j = &r->ring[s % PF_PIPE_WINDOW];

			if (j->ctime != 0 && j->profile_id != 0 &&
			    j->ino != 0 && r->nctq < CTQ_MAX) {
				r->ctq[r->nctq].profile_id = j->profile_id;
				r->ctq[r->nctq].ino = j->ino;
				r->ctq[r->nctq].mtime = j->mtime;
				r->ctq[r->nctq++].ctime = j->ctime;
			}
		}
		pthread_mutex_unlock(&r->mu);
		for (s = from; s < to; s++)
			job_clear(&r->ring[s % PF_PIPE_WINDOW]);
		pthread_mutex_lock(&r->mu);
		r->next_free = to;
		pthread_cond_broadcast(&r->cv_read);
		pthread_mutex_unlock(&r->mu);
		if (r->o->progress != NULL && !failed)
			r->o->progress(r->o->progress_arg, done, r->total);
	}
	return NULL;
}

/* One name of OUT/current/ that a crashed run left (stale_one()). */
static struct pf_error *
stale_one(void *arg, const char *file)
{
	const char *out_dir = arg;

	pf_current_remove(out_dir, file);
	return NULL;
}

struct recover_arg {
	struct run *r;
	const struct pf_run_rec *old;
};

static struct pf_error *
recorded_file(void *arg, const char *file, int *has)
{
	struct recover_arg *ra = arg;

	return pf_store_run_has_file(ra->r->db, ra->old->id, file, has);
}

/* Finish what a crashed run left: temporary files and files it never
 * recorded (in user folders too) go; the run is marked interrupted. */
static struct pf_error *
recover_one(void *arg, const struct pf_run_rec *old)
{
	struct recover_arg ra = { arg, old };
	struct run *r = arg;
	struct pf_outdir *od = NULL;
	struct pf_error *err;
	struct pf_run_rec upd;

	/* A run directory that cannot be opened has nothing to clean (an
	 * output root that is gone is not made again). */
	if ((err = pf_outdir_open_existing(&od, old->out_dir)) == NULL &&
	    (err = pf_outdir_open_run(od, old->name)) == NULL &&
	    (err = pf_outdir_sweep(od, recorded_file, &ra)) != NULL) {
		pf_outdir_close(od);
		return err;
	}
	pf_error_free(err);
	pf_outdir_close(od);
	/*
	 * Links in its OUT/current/ it had no time to remove: of profiles
	 * it reissued (under another name, say after --layout changed), or
	 * of users whose challenges it pruned (any revoked or pruned one
	 * there), unless the name is a current profile's.  Before the run
	 * is marked: a crash here is recovered again.
	 */
	if ((err = pf_store_stale_links(r->db, old->out_dir, old->id,
	    stale_one, (void *)old->out_dir)) != NULL)
		return err;
	upd = *old;
	snprintf(upd.status, sizeof(upd.status), "interrupted");
	upd.finished_at = time(NULL);
	upd.error = "the run was interrupted";
	if ((err = pf_store_run_recount(r->db, &upd)) != NULL)
		return err;
	return pf_store_run_finish(r->db, &upd);
}

/* --prune --dry-run: count what --prune would revoke. */
static struct pf_error *
count_absent(void *arg, const char *key)
{
	struct run *r = arg;

	if (!keyset_has(&r->seen, key))
		r->rec->n_revoked++;
	return NULL;
}

/* --prune: a user missing from the CSV loses the current profile. */
static struct pf_error *
prune_one(void *arg, const struct pf_pruned *p)
{
	struct run *r = arg;
	struct pf_manifest_row mr;
	char rel[4096];

	snprintf(rel, sizeof(rel), "../%s/%s", p->run, p->file);
	memset(&mr, 0, sizeof(mr));
	mr.user = p->user;
	mr.template_name = p->tmpl;
	mr.template_version = p->version;
	mr.status = "revoked";
	mr.file = rel;
	mr.bytes = -1;
	mr.payload_identifier = p->identifier;
	mr.challenge_id = p->challenge_id;
	mr.challenge_expires = p->expires;
	mr.error = "not in the CSV (--prune)";
	if (r->npruned == r->cappruned) {
		size_t ncap = r->cappruned ? r->cappruned * 2 : 64;
		char **np = reallocarray(r->pruned, ncap, sizeof(*np));

		if (np == NULL)
			return pf_error_nomem();
		r->pruned = np;
		r->cappruned = ncap;
	}
	/* (NULL: a profile of another output root, which stays) */
	r->pruned[r->npruned] = NULL;
	if (strcmp(p->out_dir, r->root) == 0 &&
	    (r->pruned[r->npruned] = pf_strdup(p->file)) == NULL)
		return pf_error_nomem();
	r->npruned++;
	return pf_manifest_add(r->man, &mr);
}

/* Once the prune is committed: its users leave OUT/current/. */
static void
pruned_done(struct run *r, int committed)
{
	size_t i;

	for (i = 0; i < r->npruned; i++) {
		if (committed && r->pruned[i] != NULL)
			pf_outdir_unpublish(r->od, r->pruned[i]);
		free(r->pruned[i]);
	}
	if (committed)
		r->rec->n_revoked += (long long)r->npruned;
	free(r->pruned);
	r->pruned = NULL;
	r->npruned = r->cappruned = 0;
}

/* The attribute columns (all but "template") ordered by name. */
static struct pf_error *
attr_order(struct run *r)
{
	size_t i, k, n = 0;

	if ((r->attr_order = calloc(r->ncols + 1, sizeof(size_t))) == NULL)
		return pf_error_nomem();
	for (i = 0; i < r->ncols; i++) {
		if (strcmp(r->names[i], "template") == 0)
			continue;
		/* insertion sort: headers are short */
		for (k = n; k > 0 && strcmp(r->names[r->attr_order[k - 1]],
		    r->names[i]) > 0; k--)
			r->attr_order[k] = r->attr_order[k - 1];
		r->attr_order[k] = i;
		n++;
	}
	r->nattr = n;
	return NULL;
}

/* Write one CSV cell exactly (RFC 4180 quoting, no neutralising). */
static int
put_cell(FILE *fp, const char *s, int last)
{
	if (fputc('"', fp) == EOF)
		return -1;
	for (; *s != '\0'; s++)
		if ((*s == '"' && fputc('"', fp) == EOF) ||
		    fputc(*s, fp) == EOF)
			return -1;
	return fputs(last ? "\"\r\n" : "\",", fp) == EOF ? -1 : 0;
}

static struct pf_error *
export_row(void *arg, const char *const *v, size_t n)
{
	FILE *fp = arg;
	size_t i;

	for (i = 0; i < n; i++)
		if (put_cell(fp, v[i], i + 1 == n) == -1)
			return pf_error_errno(PF_EX_IOERR, "export users");
	return NULL;
}

/* regenerate without --csv: the users in the database, as a private
 * temporary CSV. */
static struct pf_error *
export_users(struct run *r)
{
	struct pf_error *err;
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "%s/profactory-users.XXXXXX",
	    dir && dir[0] ? dir : "/tmp");
	if ((fd = mkstemp(path)) == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s", path);
	/* Unnamed at once: a run killed now leaves nothing behind.  The
	 * reader opens it again through /dev/fd. */
	unlink(path);
	r->tmpfd = fd;
	snprintf(path, sizeof(path), "/dev/fd/%d", fd);
	if ((r->tmpcsv = pf_strdup(path)) == NULL)
		return pf_error_nomem();
	if ((fd = dup(fd)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return pf_error_errno(PF_EX_IOERR, "exported users");
	}
	err = pf_store_export_users(r->db, export_row, export_row, fp);
	if (fclose(fp) == EOF && err == NULL)
		err = pf_error_errno(PF_EX_IOERR, "exported users");
	return err;
}

/*
 * The descriptor table of the process grows as the run keeps files open
 * (up to a window of them); each time it grows while threads share it,
 * Linux waits for an RCU grace period, milliseconds during which every
 * thread that opens a file waits too.  It is grown once, to n entries,
 * before the workers start: a descriptor is duplicated to n - 1 and
 * closed, and the table keeps its size.  Nothing fails if it cannot.
 */
static void
fd_table_grow(int fd, rlim_t n)
{
	int hi;

	if (fd < 0 || n < 2 || n > INT_MAX)
		return;
	if ((hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)(n - 1))) != -1)
		close(hi);
}

/*
 * Can workers write unnamed files (O_TMPFILE) that the writer names?  Up
 * to a window of them are open at once, so the descriptor limit must
 * allow that (it is raised to the hard limit if need be); otherwise the
 * writer writes named temporaries itself.
 */
static struct pf_error *
anon_setup(struct run *r)
{
	struct rlimit rl;
	rlim_t need = PF_PIPE_WINDOW + 256 + FDS_PER_WORKER *
	    (rlim_t)r->o->jobs;
	int ok;

	r->anon = 0;
	if (getenv("PROFACTORY_NO_TMPFILE") != NULL)
		return NULL;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return NULL;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
			return NULL;
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			return NULL;
	}
	pf_outdir_anon_probe(r->od, &ok);
	r->anon = ok;
	if (ok)
		fd_table_grow(r->od->runfd, need);
	return NULL;
}

/*
 * How many files a worker may open ahead of checking them (file_open()).
 * With unnamed files the limit allows a window of descriptors, and a job
 * holds one of those or a file to check, never both.  Otherwise half the
 * limit is for the workers to share.
 */
static void
ahead_setup(struct run *r)
{
	struct rlimit rl;
	rlim_t n;

	r->ahead = WORKER_CLAIM;
	if (r->anon || getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY)
		return;
	n = rl.rlim_cur / 2 / (rlim_t)r->o->jobs;
	if (n < r->ahead)
		r->ahead = (size_t)n;
}

/* pf_outdir_drop_empty_runs(): is name a run of this database? */
static struct pf_error *
run_known(void *arg, const char *name, int *has)
{
	struct run *r = arg;

	return pf_store_run_exists(r->db, name, has);
}

/* Pick a fresh run name and create its directory. */
static struct pf_error *
make_run_dir(struct run *r)
{
	struct pf_error *err;
	struct tm tm;
	char base[32];
	int i, exists;

	gmtime_r(&r->now, &tm);
	strftime(base, sizeof(base), "%Y%m%d-%H%M%S", &tm);
	for (i = 1; i < 1000; i++) {
		if (i == 1)
			snprintf(r->rec->name, sizeof(r->rec->name), "%s",
			    base);
		else
			snprintf(r->rec->name, sizeof(r->rec->name), "%s-%d",
			    base, i);
		if ((err = pf_store_run_exists(r->db, r->rec->name,
		    &exists)) != NULL)
			return err;
		if (exists || faccessat(r->od->rootfd, r->rec->name, F_OK,
		    AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		return pf_outdir_create_run(r->od, r->rec->name);
	}
	return pf_error_fmt(PF_EX_CANTCREAT, "%s: cannot find a free run "
	    "name", r->od->root);
}

int
pf_pipe_cache_kib(size_t keyset_bytes)
{
	size_t kib = keyset_bytes / 1024;

	if (kib >= PF_PIPE_SHARED_KIB - PF_PIPE_CACHE_MIN)
		return PF_PIPE_CACHE_MIN;
	if (PF_PIPE_SHARED_KIB - kib > PF_PIPE_CACHE_MAX)
		return PF_PIPE_CACHE_MAX;
	return (int)(PF_PIPE_SHARED_KIB - kib);
}

struct pf_error *
pf_run(struct pf_db *db, const struct pf_run_opts *o,
    struct pf_run_result *res)
{
	struct pf_error *err = NULL, *e;
	struct run r;
	struct worker_arg *wa = NULL;
	pthread_t wtid, ptid, stid, rtid, sigtid;
	sigset_t sigs, oldsigs;
	struct timespec t0, t1;
	char abs[PATH_MAX];
	const char *csv_path;
	struct stat sb;
	int lockfd = -1, nwork = 0, wstarted = 0, pstarted = 0, i;
	int sstarted = 0, rstarted = 0;
	int recorded = 0, made = 0, watching = 0, late = 0;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.o = o;
	r.db = db;
	r.rec = &res->run;
	r.keycol = r.tmplcol = -1;
	r.tmpfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv_read, NULL);
	pthread_cond_init(&r.cv_work, NULL);
	pthread_cond_init(&r.cv_write, NULL);
	pthread_cond_init(&r.cv_pub, NULL);
	pthread_cond_init(&r.cv_sync, NULL);
	pthread_cond_init(&r.cv_rec, NULL);

	if (!o->dry_run && (err = pf_db_lock(db, o->wait, &lockfd)) != NULL)
		goto done;
	/* From here a signal stops the run in order (sig_watcher()); until
	 * the lock is held it ends the process as usual. */
	stop_signals(&sigs);
	if (pthread_sigmask(SIG_BLOCK, &sigs, &oldsigs) == 0) {
		if (pthread_create(&sigtid, NULL, sig_watcher, &r) == 0)
			watching = 1;
		else
			pthread_sigmask(SIG_SETMASK, &oldsigs, NULL);
	}
	r.now = time(NULL);
	/* Runs that crashed are settled first, whatever this one does. */
	if (!o->dry_run &&
	    (err = pf_store_run_unfinished(db, recover_one, &r)) != NULL)
		goto done;
	csv_path = o->csv_path;
	if (csv_path == NULL) {
		if ((err = export_users(&r)) != NULL)
			goto done;
		csv_path = r.tmpcsv;
	}

	if (stat(csv_path, &sb) == 0 && !S_ISREG(sb.st_mode) &&
	    !S_ISDIR(sb.st_mode)) {
		err = pf_error_fmt(PF_EX_NOINPUT, "%s: not a regular file (the "
		    "CSV is read twice: save it to a file first)", csv_path);
		goto done;
	}
	if ((err = pf_csv_open(&r.csv, csv_path)) != NULL)
		goto done;
	r.ncols = pf_csv_ncols(r.csv);
	r.names = pf_csv_colnames(r.csv);
	if ((r.keycol = pf_csv_colindex(r.csv, o->key_column)) < 0) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s:1: no column \"%s\" "
		    "(the key column; see --key-column)", csv_path,
		    o->key_column);
		goto done;
	}
	if (o->template_name == NULL &&
	    (r.tmplcol = pf_csv_colindex(r.csv, "template")) < 0) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s:1: no column "
		    "\"template\" and no --template", csv_path);
		goto done;
	}
	if ((err = attr_order(&r)) != NULL ||
	    (err = check_template_option(&r)) != NULL)
		goto done;
	if ((err = first_pass(&r)) != NULL ||
	    (err = keyset_reserve(&r.keys, (size_t)r.total)) != NULL)
		goto done;
	if ((err = take_fatal(&r)) != NULL)	/* a signal meanwhile */
		goto done;
	if ((err = pf_store_has_profiles(db, &r.any_profiles)) != NULL)
		goto done;

	/* OUT is made only once the input is known to be good. */
	if (o->dry_run) {
		if (realpath(o->out_root, abs) == NULL)
			snprintf(abs, sizeof(abs), "%s", o->out_root);
	} else {
		if ((err = pf_outdir_open(&r.od, o->out_root)) != NULL)
			goto done;
		if (realpath(o->out_root, abs) == NULL) {
			err = pf_error_errno(PF_EX_CANTCREAT, "%s",
			    o->out_root);
			goto done;
		}
	}
	if ((r.root = pf_strdup(abs)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}

	if (!o->dry_run) {
		if ((err = pf_outdir_drop_empty_runs(r.od, run_known,
		    &r)) != NULL || (err = pf_outdir_open_current(r.od)) !=
		    NULL || (err = make_run_dir(&r)) != NULL)
			goto done;
		made = 1;
		snprintf(r.rec->kind, sizeof(r.rec->kind), "%s",
		    o->kind ? o->kind : "run");
		r.rec->started_at = r.now;
		r.rec->csv_path = pf_strdup(o->csv_path ? o->csv_path :
		    "(users in the database)");
		r.rec->out_dir = pf_strdup(abs);
		if (o->signer != NULL) {
			r.rec->signer_sha256 =
			    pf_strdup(pf_signer_fingerprint(o->signer));
			r.rec->signer_subject =
			    pf_strdup(pf_signer_subject(o->signer));
		}
		if ((err = pf_store_run_begin(db, r.rec)) != NULL)
			goto done;
		recorded = 1;
		if ((err = anon_setup(&r)) != NULL)
			goto done;
		pf_outdir_path(r.od, NULL, res->dir, sizeof(res->dir));
		if ((err = pf_manifest_open(&r.man, r.od)) != NULL ||
		    (err = pf_store_writer_new(&r.sw, db,
		    pf_pipe_cache_kib(r.keys.cap * sizeof(*r.keys.slot)))) !=
		    NULL ||
		    (err = pf_db_data_version(db, &r.dv0)) != NULL)
			goto done;
	} else
		snprintf(r.rec->name, sizeof(r.rec->name), "dry-run");

	ahead_setup(&r);
	if (!o->dry_run && ((r.ctq = calloc(CTQ_MAX, sizeof(*r.ctq))) ==
	    NULL || (r.ctq_rec = calloc(CTQ_MAX, sizeof(*r.ctq))) == NULL)) {
		err = pf_error_nomem();
		goto done;
	}
	if ((r.ring = calloc(PF_PIPE_WINDOW, sizeof(*r.ring))) == NULL ||
	    (r.pend = calloc(PEND_SLOTS, sizeof(*r.pend))) == NULL ||
	    (wa = calloc((size_t)o->jobs, sizeof(*wa))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	for (i = 0; i < o->jobs; i++) {
		wa[i].r = &r;
		if (pthread_create(&wa[i].tid, NULL, worker, &wa[i]) != 0) {
			err = pf_error_errno(PF_EX_SOFTWARE, "start thread");
			set_fatal(&r, err);
			err = NULL;
			break;
		}
		nwork++;
	}
	if (nwork > 0 && pthread_create(&ptid, NULL, publisher, &r) == 0)
		pstarted = 1;
	if (pstarted && pthread_create(&stid, NULL, syncer, &r) == 0)
		sstarted = 1;
	if (sstarted && pthread_create(&rtid, NULL, recorder, &r) == 0)
		rstarted = 1;
	if (rstarted && pthread_create(&wtid, NULL, writer, &r) == 0)
		wstarted = 1;
	else if (nwork > 0)
		set_fatal(&r, pf_error_errno(PF_EX_SOFTWARE, "start thread"));
	if (pstarted && !wstarted) {
		/* the recorder and publisher may be running: nothing will
		 * come */
		pthread_mutex_lock(&r.mu);
		r.writer_done = 1;
		pthread_cond_broadcast(&r.cv_rec);
		if (!rstarted)
			r.recorder_done = 1;
		pthread_cond_signal(&r.cv_pub);
		pthread_mutex_unlock(&r.mu);
	}

	if (wstarted && (err = reader(&r)) != NULL) {
		set_fatal(&r, err);
		err = NULL;
	}
	pthread_mutex_lock(&r.mu);
	r.eof = 1;
	pthread_cond_broadcast(&r.cv_work);
	pthread_cond_broadcast(&r.cv_write);
	pthread_mutex_unlock(&r.mu);
	for (i = 0; i < nwork; i++)
		pthread_join(wa[i].tid, NULL);
	if (wstarted)
		pthread_join(wtid, NULL);
	if (rstarted)
		pthread_join(rtid, NULL);
	if (sstarted) {
		pthread_mutex_lock(&r.mu);
		r.sync_quit = 1;
		pthread_cond_broadcast(&r.cv_sync);
		pthread_mutex_unlock(&r.mu);
		pthread_join(stid, NULL);
	}
	if (pstarted)
		pthread_join(ptid, NULL);
	if ((err = take_fatal(&r)) != NULL)
		goto done;
	if (!o->dry_run && r.nctq > 0) {
		if ((err = pf_db_begin(db)) != NULL)
			goto done;
		if ((err = record_files(&r)) != NULL) {
			pf_db_rollback(db);
			goto done;
		}
		if ((err = pf_db_commit(db)) != NULL)
			goto done;
	}
	if (!o->dry_run && (err = unpublish_revoked(&r)) != NULL)
		goto done;
	if (o->prune && !o->dry_run) {
		err = pf_store_prune(r.sw, r.now, prune_one, &r);
		pruned_done(&r, err == NULL);
		if (err != NULL)
			goto done;
	}
	if (o->prune && o->dry_run && (err = pf_store_outstanding_keys(db,
	    count_absent, &r)) != NULL)
		goto done;
	if (r.rec->n_failed > MAX_ROW_WARNINGS)
		pf_warnf(o->warn, "%lld more rows failed; see the manifest",
		    r.rec->n_failed - MAX_ROW_WARNINGS);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	r.rec->n_rows = r.total;
	r.rec->duration_ms = (t1.tv_sec - t0.tv_sec) * 1000LL +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	r.rec->finished_at = time(NULL);
	snprintf(r.rec->status, sizeof(r.rec->status), "done");
	if (!o->dry_run) {
		struct pf_manifest_summary sum;

		memset(&sum, 0, sizeof(sum));
		sum.run = r.rec->name;
		sum.kind = r.rec->kind;
		sum.started = r.rec->started_at;
		sum.finished = r.rec->finished_at;
		sum.duration_ms = r.rec->duration_ms;
		sum.csv = r.rec->csv_path;
		if (o->signer != NULL) {
			sum.signer_subject = pf_signer_subject(o->signer);
			sum.signer_sha256 = pf_signer_fingerprint(o->signer);
			sum.signer_not_after = pf_signer_not_after(o->signer);
		}
		sum.rows = r.rec->n_rows;
		sum.issued = r.rec->n_issued;
		sum.reissued = r.rec->n_reissued;
		sum.unchanged = r.rec->n_unchanged;
		sum.revoked = r.rec->n_revoked;
		sum.failed = r.rec->n_failed;
		err = pf_manifest_finish(r.man, &sum);
		r.man = NULL;
		if (err != NULL)
			goto done;
		if ((err = pf_store_run_finish(db, r.rec)) != NULL ||
		    (err = pf_outdir_set_latest(r.od)) != NULL)
			goto done;
	}
done:
	/* A run folder made for a run that could not be recorded (the
	 * database busy, say) goes, while it is still empty. */
	if (err != NULL && made && !recorded)
		unlinkat(r.od->rootfd, r.rec->name, AT_REMOVEDIR);
	if (watching) {
		pthread_mutex_lock(&r.mu);
		r.sig_quit = 1;
		pthread_mutex_unlock(&r.mu);
		(void)pthread_kill(sigtid, WAKE_SIGNAL);
		pthread_join(sigtid, NULL);
		/* A signal after the threads were done: the run goes on to
		 * its end, then the signal does what it does by default. */
		if ((e = take_fatal(&r)) != NULL) {
			late = err == NULL ? r.stopped_by : 0;
			pf_error_free(e);
		}
	}
	if (err != NULL && recorded) {
		free(r.rec->error);
		r.rec->error = pf_strdup(err->msg);
		r.rec->n_rows = r.total;
		snprintf(r.rec->status, sizeof(r.rec->status), "%s",
		    r.stopped_by ? "interrupted" : "failed");
		r.rec->finished_at = time(NULL);
		pf_error_free(pf_store_run_finish(db, r.rec));
	}
	if (r.ring != NULL) {
		size_t k;

		for (k = 0; k < PF_PIPE_WINDOW; k++) {
			if (r.ring[k].tmp[0] != '\0' && r.od != NULL)
				unlinkat(r.od->runfd, r.ring[k].tmp, 0);
			job_clear(&r.ring[k]);
		}
		free(r.ring);
	}
	free(r.ctq);
	free(r.ctq_rec);
	/* Temporaries left in the run folder: none after a run that went
	 * well with unnamed files, and reading a folder of 100 000 names
	 * takes a while. */
	if (r.od != NULL && r.od->runfd != -1 && (err != NULL || !r.anon))
		pf_error_free(pf_outdir_clean_tmp(r.od));
	pf_manifest_abort(r.man);
	pf_store_writer_free(r.sw);
	pf_outdir_close(r.od);
	tmpl_free_all(r.templates);
	keyset_clear(&r.keys);
	keyset_clear(&r.seen);
	pf_csv_close(r.csv);
	free(r.attr_order);
	free(r.root);
	free(r.tmpcsv);
	if (r.tmpfd != -1)
		close(r.tmpfd);
	free(wa);
	pf_db_unlock(lockfd);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv_read);
	pthread_cond_destroy(&r.cv_work);
	pthread_cond_destroy(&r.cv_write);
	pthread_cond_destroy(&r.cv_pub);
	pthread_cond_destroy(&r.cv_sync);
	pthread_cond_destroy(&r.cv_rec);
	free(r.pend);
	/* A signal that came once the watcher had stopped is delivered
	 * here, and does what it would have done without us. */
	if (watching) {
		pthread_sigmask(SIG_SETMASK, &oldsigs, NULL);
		if (late)
			raise(late);
	}
	return err;
}
