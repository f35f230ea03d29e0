/*
 * store: the SQL for templates, runs, users, profiles, challenges and
 * failures.  Every statement binds its parameters; nothing is spliced in.
 */
#ifndef PF_STORE_H
#define PF_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "db.h"
#include "error.h"
#include "profile.h"
#include "util.h"

/* One stored template version. */
struct pf_tmpl_rec {
	long long id;
	char *name;		/* malloc'd */
	long version;
	char *body;		/* malloc'd, NUL-terminated */
	size_t len;
	char sha256[65];
	time_t created_at;
	int forced;
	int removed;
};
void pf_tmpl_rec_clear(struct pf_tmpl_rec *r);

/* Store body as the next version of name (1 for a new name).  When body is
 * the same as the newest active version, nothing is stored and *added is
 * 0.  *version gets the version now current. */
struct pf_error *pf_store_template_add(struct pf_db *db, const char *name,
    const char *body, size_t len, const char *source, int forced,
    long *version, int *added);
/* Newest active version of name (version 0), or that version.  Unknown or
 * removed: PF_EX_DATAERR "template \"name\" not found". */
struct pf_error *pf_store_template_get(struct pf_db *db, const char *name,
    long version, struct pf_tmpl_rec *out);
/* Calls fn for the newest active version of every template, by name. */
struct pf_error *pf_store_template_list(struct pf_db *db,
    struct pf_error *(*fn)(void *arg, const struct pf_tmpl_rec *r,
    long nversions), void *arg);
/* Mark every version of name removed. */
struct pf_error *pf_store_template_remove(struct pf_db *db, const char *name);

/* Runs. */
struct pf_run_rec {
	long long id;
	char name[64];
	char kind[16];
	char status[16];
	time_t started_at, finished_at;
	long long duration_ms;
	char *csv_path;		/* malloc'd or NULL */
	char *out_dir;		/* malloc'd */
	char *signer_sha256;	/* malloc'd or NULL */
	char *signer_subject;	/* malloc'd or NULL */
	long long n_rows, n_issued, n_reissued, n_unchanged, n_revoked,
	    n_failed;
	char *error;		/* malloc'd or NULL */
};
void pf_run_rec_clear(struct pf_run_rec *r);

/* Insert a run in state "running" and commit it.  name must be unique. */
struct pf_error *pf_store_run_begin(struct pf_db *db, struct pf_run_rec *r);
/* Record the end of a run (status, counts, duration, error). */
struct pf_error *pf_store_run_finish(struct pf_db *db,
    const struct pf_run_rec *r);
/* The issued, reissued and failed counts of run r->id from what the
 * database holds of it (a run that was interrupted). */
struct pf_error *pf_store_run_recount(struct pf_db *db, struct pf_run_rec *r);
/* 1 if a run with this name exists. */
struct pf_error *pf_store_run_exists(struct pf_db *db, const char *name,
    int *exists);
/* Calls fn for every run, oldest first. */
struct pf_error *pf_store_run_list(struct pf_db *db,
    struct pf_error *(*fn)(void *arg, const struct pf_run_rec *r), void *arg);
/* Runs left in state "running" (by a crashed process): calls fn for each. */
struct pf_error *pf_store_run_unfinished(struct pf_db *db,
    struct pf_error *(*fn)(void *arg, const struct pf_run_rec *r), void *arg);
/* *has = 0 when the database holds no profile at all (a first run: no
 * lookups needed). */
struct pf_error *pf_store_has_profiles(struct pf_db *db, int *has);
/* 1 if the run recorded a profile under file. */
struct pf_error *pf_store_run_has_file(struct pf_db *db, long long run_id,
    const char *file, int *has);

/*
 * The writer's prepared statements, used by the one thread that records a
 * run's results.
 */
struct pf_store_writer;

struct pf_issue {
	long long run_id;
	const char *user;		/* key */
	const char *attrs;		/* JSON object */
	const char *attrs_sha256;
	long long template_id;
	int had_current;		/* the reader found a current profile;
					 * without one nothing is superseded */
	const char *file;
	const char *sha256;
	long long bytes;
	const char *payload_identifier;
	const char *payload_uuid;
	const uint8_t *digest;		/* challenge digest, 32 bytes, or NULL */
	time_t now, expires;
	const struct pf_binding *bindings;
	size_t nbindings;
};

/* The writer of a run, on db, whose page cache takes up to cache_kib
 * KiB while it lasts. */
struct pf_error *pf_store_writer_new(struct pf_store_writer **out,
    struct pf_db *db, int cache_kib);
void pf_store_writer_free(struct pf_store_writer *w);
/* Record one profile: user upserted, older profiles and challenges of the
 * same user and template name superseded, profile and challenge inserted.
 * *profile_id gets the new profile's id, *challenge_id the new challenge's
 * (0 without digest); *reissued is 1 when an older profile was
 * superseded.  Call inside a transaction. */
struct pf_error *pf_store_issue(struct pf_store_writer *w,
    const struct pf_issue *is, long long *profile_id,
    long long *challenge_id, int *reissued);
/* Record what a profile's file is like once linked, or once read and
 * found intact: its inode, modification and change times (ns). */
struct pf_error *pf_store_file_stat(struct pf_store_writer *w,
    long long profile_id, long long ino, long long mtime, long long ctime);
/* Record a row that produced no profile. */
struct pf_error *pf_store_failure(struct pf_store_writer *w,
    long long run_id, long line, const char *user, const char *tmpl,
    const char *error);

/*
 * Regeneration: the current (not superseded) profile of a (user, template
 * name), looked up by the reader on its own connection.
 */
struct pf_current {
	long long profile_id;
	long long template_id;		/* the version it was built from */
	long version;
	char attrs_sha256[PF_SHA256_HEX];
	char sha256[PF_SHA256_HEX];
	long long bytes;
	char *file;			/* malloc'd, name in its run dir */
	char *run;			/* malloc'd run name */
	char *out_dir;			/* malloc'd output root of that run */
	char *identifier;		/* malloc'd PayloadIdentifier */
	long long challenge_id;		/* 0 if the profile has none */
	time_t expires;
	int used;
	char revoked[16];		/* "" or revoked | superseded | pruned */
	char signer[PF_SHA256_HEX];	/* its run's signer fingerprint, ""
					 * if unsigned */
	long long file_ino, file_mtime;	/* as written, */
	long long file_ctime;		/* and once linked (ns); 0 if not
					 * known: sql/003_file_stat.sql */
};
void pf_current_clear(struct pf_current *c);

struct pf_store_lookup;
struct pf_error *pf_store_lookup_new(struct pf_store_lookup **out,
    struct pf_db *db);
void pf_store_lookup_free(struct pf_store_lookup *l);
/* *found = 0 when the user has no current profile of that template. */
struct pf_error *pf_store_current(struct pf_store_lookup *l, const char *key,
    const char *tmpl, struct pf_current *out, int *found);

/* Record a key as seen in this run (for --prune); a temporary table of
 * the writer's connection. */
struct pf_error *pf_store_seen(struct pf_store_writer *w, const char *key);

/* The challenge as it is now, inside the writer's transaction (what it
 * records next sees the same): *revoked = 1 if `revoke` revoked it since
 * the time since, *used = 1 if verify-csr approved it. */
struct pf_error *pf_store_challenge_now(struct pf_store_writer *w,
    long long challenge_id, time_t since, int *revoked, int *used);
/* fn(arg, file) for every name in OUT/current/ of output root out_dir
 * that does not belong there after run run_id: a profile there that run
 * reissued, or a user's newest there whose challenge is revoked or
 * pruned; never the name of a current profile there. */
struct pf_error *pf_store_stale_links(struct pf_db *db, const char *out_dir,
    long long run_id, struct pf_error *(*fn)(void *, const char *),
    void *arg);
/* fn(arg, key, template) for every (user, template) whose challenge
 * `revoke` revoked since the time since. */
struct pf_error *pf_store_revocations_since(struct pf_db *db, time_t since,
    struct pf_error *(*fn)(void *, const char *, const char *), void *arg);

/* One profile --prune retires. */
struct pf_pruned {
	const char *user, *tmpl, *file, *run, *out_dir, *identifier;
	long version;
	long long challenge_id;
	time_t expires;
};
/* Retire the current profiles of users not seen: their challenges are
 * revoked ("pruned"), profiles without a challenge superseded.  fn is
 * called for each, before the change, inside one transaction. */
struct pf_error *pf_store_prune(struct pf_store_writer *w, time_t now,
    struct pf_error *(*fn)(void *arg, const struct pf_pruned *p), void *arg);
/* fn(arg, key) for each profile --prune could retire, whether or not its
 * user is in the CSV (a dry run counts those who are not). */
struct pf_error *pf_store_outstanding_keys(struct pf_db *db,
    struct pf_error *(*fn)(void *arg, const char *key), void *arg);

/* Users with a current profile, as CSV rows for a regeneration without a
 * CSV: calls hdr once with the attribute names (sorted, "template" last),
 * then row for each user with values in that order.  Arrays are valid
 * during the call only. */
struct pf_error *pf_store_export_users(struct pf_db *db,
    struct pf_error *(*hdr)(void *arg, const char *const *names, size_t n),
    struct pf_error *(*row)(void *arg, const char *const *values, size_t n),
    void *arg);

/* Calls fn with the output root and file name of every current profile of
 * user (of template tmpl, or all when NULL). */
struct pf_error *pf_store_current_files(struct pf_db *db, const char *user,
    const char *tmpl, void (*fn)(void *arg, const char *out_dir,
    const char *file), void *arg);

/*
 * Mail: the run a mail command names, and its profiles one at a time.
 */

/* The run named ident: its name, its numeric id, or "latest" (the newest
 * finished run).  Unknown: PF_EX_DATAERR "run \"ident\" not found".
 * Clear out with pf_run_rec_clear(). */
struct pf_error *pf_store_run_find(struct pf_db *db, const char *ident,
    struct pf_run_rec *out);
/* *has = 1 if a user with a profile of the run has a value in column. */
struct pf_error *pf_store_run_has_column(struct pf_db *db, long long run_id,
    const char *column, int *has);

/* One profile a run wrote, as the mail command sees it. */
struct pf_mail_item {
	long long profile_id;
	char *file;			/* malloc'd, in the run directory */
	char sha256[PF_SHA256_HEX];
	long long bytes;
	char *tmpl;			/* malloc'd template name */
	char *user;			/* malloc'd key */
	char *attrs;			/* malloc'd JSON object of the user's
					 * columns, as last recorded */
	char stale[16];			/* "" or why the profile is of no use
					 * any more: superseded, revoked,
					 * pruned, expired, used */
	time_t sent_at;			/* 0 unless mailed with sendmail */
};
void pf_mail_item_clear(struct pf_mail_item *it);

struct pf_store_mailq;
struct pf_error *pf_store_mailq_new(struct pf_store_mailq **out,
    struct pf_db *db, long long run_id, time_t now);
void pf_store_mailq_free(struct pf_store_mailq *q);	/* NULL-safe */
/* The run's next profile in file name order (one query each, so nothing
 * is held open between calls); *found = 0 after the last. */
struct pf_error *pf_store_mailq_next(struct pf_store_mailq *q,
    struct pf_mail_item *it, int *found);
/* Calls fn with each key and text value of the JSON object json. */
struct pf_error *pf_store_mailq_attrs(struct pf_store_mailq *q,
    const char *json, struct pf_error *(*fn)(void *arg, const char *key,
    const char *value), void *arg);
/* Record that sendmail took the profile's message (commits at once). */
struct pf_error *pf_store_mailq_sent(struct pf_store_mailq *q,
    long long profile_id, const char *to, const char *message_id,
    time_t at);

#endif
