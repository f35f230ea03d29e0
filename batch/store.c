#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

/* Copy of a text column, NULL for SQL NULL; *err set when out of memory. */
static char *
col_text(sqlite3_stmt *st, int i, struct pf_error **err)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = pf_strdup((const char *)s)) == NULL && *err == NULL)
		*err = pf_error_nomem();
	return p;
}

void
pf_tmpl_rec_clear(struct pf_tmpl_rec *r)
{
	free(r->name);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The error for a template name no version in use has: removed (its
 * versions stay, for the record) or never added. */
static struct pf_error *
removed_or_missing(struct pf_db *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	long last = 0;

	if ((err = pf_db_prepare(db, &st, "SELECT max(version) FROM "
	    "templates WHERE name = ?1")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		last = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (last > 0)
		return pf_error_fmt(PF_EX_DATAERR, "template \"%s\" was "
		    "removed (its versions stay: template show %s --version "
		    "%ld)", name, name, last);
	return pf_error_fmt(PF_EX_DATAERR, "template \"%s\" not found",
	    name);
}

struct pf_error *
pf_store_template_get(struct pf_db *db, const char *name, long version,
    struct pf_tmpl_rec *out)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err = NULL;
	const void *body;
	int rc, n;

	memset(out, 0, sizeof(*out));
	if ((err = pf_db_prepare(db, &st, version == 0 ?
	    "SELECT id, name, version, body, sha256, created_at, forced, "
	    "removed_at IS NOT NULL FROM templates WHERE name = ?1 AND "
	    "removed_at IS NULL ORDER BY version DESC LIMIT 1" :
	    "SELECT id, name, version, body, sha256, created_at, forced, "
	    "removed_at IS NOT NULL FROM templates WHERE name = ?1 AND "
	    "version = ?2")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (version != 0)
		sqlite3_bind_int64(st, 2, version);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		if (version != 0)
			err = pf_error_fmt(PF_EX_DATAERR, "template \"%s\" "
			    "version %ld not found", name, version);
		else
			err = removed_or_missing(db, name);
		goto done;
	}
	if (rc != SQLITE_ROW) {
		err = pf_db_error(db, "read template");
		goto done;
	}
	out->id = sqlite3_column_int64(st, 0);
	out->name = col_text(st, 1, &err);
	out->version = (long)sqlite3_column_int64(st, 2);
	body = sqlite3_column_blob(st, 3);
	n = sqlite3_column_bytes(st, 3);
	if ((out->body = malloc((size_t)n + 1)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if (n > 0)
		memcpy(out->body, body, (size_t)n);
	out->body[n] = '\0';
	out->len = (size_t)n;
	snprintf(out->sha256, sizeof(out->sha256), "%s",
	    (const char *)sqlite3_column_text(st, 4));
	out->created_at = (time_t)sqlite3_column_int64(st, 5);
	out->forced = sqlite3_column_int(st, 6);
	out->removed = sqlite3_column_int(st, 7);
done:
	sqlite3_finalize(st);
	if (err != NULL)
		pf_tmpl_rec_clear(out);
	return err;
}

struct pf_error *
pf_store_template_add(struct pf_db *db, const char *name, const char *body,
    size_t len, const char *source, int forced, long *version, int *added)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err = NULL;
	char sha[PF_SHA256_HEX];
	long max = 0, cur = 0;
	int rc, same = 0;

	*added = 0;
	pf_sha256_hex(body, len, sha);
	if ((err = pf_db_begin(db)) != NULL)
		return err;
	if ((err = pf_db_prepare(db, &st, "SELECT max(version), "
	    "(SELECT version FROM templates WHERE name = ?1 AND removed_at "
	    "IS NULL AND sha256 = ?2 AND version = (SELECT max(version) FROM "
	    "templates WHERE name = ?1 AND removed_at IS NULL)) FROM "
	    "templates WHERE name = ?1")) != NULL)
		goto done;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		err = pf_db_error(db, "read template versions");
		goto done;
	}
	max = (long)sqlite3_column_int64(st, 0);
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		same = 1;
		cur = (long)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (same) {
		*version = cur;
		goto done;
	}
	if ((err = pf_db_prepare(db, &st, "INSERT INTO templates (name, "
	    "version, body, sha256, source, forced, created_at) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?)")) != NULL)
		goto done;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, max + 1);
	sqlite3_bind_blob(st, 3, body, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, forced);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	if ((err = pf_db_step_done(db, st, "store template")) != NULL)
		goto done;
	*version = max + 1;
	*added = 1;
done:
	sqlite3_finalize(st);
	if (err == NULL)
		err = pf_db_commit(db);
	if (err != NULL)
		pf_db_rollback(db);
	return err;
}

struct pf_error *
pf_store_template_list(struct pf_db *db, struct pf_error *(*fn)(void *,
    const struct pf_tmpl_rec *, long), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT t.id, t.name, t.version, "
	    "t.sha256, t.created_at, t.forced, length(t.body), (SELECT "
	    "count(*) FROM templates u WHERE u.name = t.name) FROM templates "
	    "t WHERE t.removed_at IS NULL AND t.version = (SELECT "
	    "max(version) FROM templates v WHERE v.name = t.name AND "
	    "v.removed_at IS NULL) ORDER BY t.name")) != NULL)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pf_tmpl_rec r;

		memset(&r, 0, sizeof(r));
		r.id = sqlite3_column_int64(st, 0);
		r.name = (char *)sqlite3_column_text(st, 1);
		r.version = (long)sqlite3_column_int64(st, 2);
		snprintf(r.sha256, sizeof(r.sha256), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		r.created_at = (time_t)sqlite3_column_int64(st, 4);
		r.forced = sqlite3_column_int(st, 5);
		r.len = (size_t)sqlite3_column_int64(st, 6);
		if ((err = fn(arg, &r, (long)sqlite3_column_int64(st, 7))) !=
		    NULL)
			break;
	}
	if (err == NULL && rc != SQLITE_DONE)
		err = pf_db_error(db, "list templates");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_template_remove(struct pf_db *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	if ((err = pf_db_prepare(db, &st, "UPDATE templates SET removed_at = "
	    "?2 WHERE name = ?1 AND removed_at IS NULL")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	err = pf_db_step_done(db, st, "remove template");
	if (err == NULL && sqlite3_changes(db->h) == 0)
		err = pf_error_fmt(PF_EX_DATAERR, "template \"%s\" not found",
		    name);
	sqlite3_finalize(st);
	return err;
}

void
pf_run_rec_clear(struct pf_run_rec *r)
{
	free(r->csv_path);
	free(r->out_dir);
	free(r->signer_sha256);
	free(r->signer_subject);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

struct pf_error *
pf_store_run_begin(struct pf_db *db, struct pf_run_rec *r)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	if ((err = pf_db_prepare(db, &st, "INSERT INTO runs (name, kind, "
	    "status, pid, started_at, csv_path, out_dir, signer_sha256, "
	    "signer_subject) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)")) !=
	    NULL)
		return err;
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)getpid());
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->started_at);
	sqlite3_bind_text(st, 5, r->csv_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->out_dir, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->signer_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->signer_subject, -1, SQLITE_STATIC);
	if ((err = pf_db_step_done(db, st, "record run")) == NULL) {
		r->id = sqlite3_last_insert_rowid(db->h);
		snprintf(r->status, sizeof(r->status), "running");
	}
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_run_finish(struct pf_db *db, const struct pf_run_rec *r)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	if ((err = pf_db_prepare(db, &st, "UPDATE runs SET status = ?2, "
	    "finished_at = ?3, duration_ms = ?4, n_rows = ?5, n_issued = ?6, "
	    "n_reissued = ?7, n_unchanged = ?8, n_revoked = ?9, n_failed = "
	    "?10, error = ?11 WHERE id = ?1")) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, r->id);
	sqlite3_bind_text(st, 2, r->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->finished_at);
	sqlite3_bind_int64(st, 4, r->duration_ms);
	sqlite3_bind_int64(st, 5, r->n_rows);
	sqlite3_bind_int64(st, 6, r->n_issued);
	sqlite3_bind_int64(st, 7, r->n_reissued);
	sqlite3_bind_int64(st, 8, r->n_unchanged);
	sqlite3_bind_int64(st, 9, r->n_revoked);
	sqlite3_bind_int64(st, 10, r->n_failed);
	sqlite3_bind_text(st, 11, r->error, -1, SQLITE_STATIC);
	err = pf_db_step_done(db, st, "record end of run");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_run_recount(struct pf_db *db, struct pf_run_rec *r)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	if ((err = pf_db_prepare(db, &st, "SELECT "
	    "(SELECT count(*) FROM profiles WHERE run_id = ?1 AND "
	    "status = 'issued'), "
	    "(SELECT count(*) FROM profiles WHERE run_id = ?1 AND "
	    "status = 'reissued'), "
	    "(SELECT count(*) FROM failures WHERE run_id = ?1)")) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, r->id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r->n_issued = sqlite3_column_int64(st, 0);
		r->n_reissued = sqlite3_column_int64(st, 1);
		r->n_failed = sqlite3_column_int64(st, 2);
	} else
		err = pf_db_error(db, "count the run's profiles");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_run_exists(struct pf_db *db, const char *name, int *exists)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT 1 FROM runs WHERE name = "
	    "?")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*exists = rc == SQLITE_ROW;
	else
		err = pf_db_error(db, "read runs");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_has_profiles(struct pf_db *db, int *has)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	*has = 1;
	if ((err = pf_db_prepare(db, &st, "SELECT EXISTS (SELECT 1 FROM "
	    "profiles)")) != NULL)
		return err;
	if (sqlite3_step(st) == SQLITE_ROW)
		*has = sqlite3_column_int(st, 0);
	else
		err = pf_db_error(db, "read profiles");
	sqlite3_finalize(st);
	return err;
}

#define RUN_COLS "id, name, kind, status, started_at, finished_at, " \
    "duration_ms, csv_path, out_dir, signer_sha256, signer_subject, " \
    "n_rows, n_issued, n_reissued, n_unchanged, n_revoked, n_failed, error"

static struct pf_error *
run_from_row(sqlite3_stmt *st, struct pf_run_rec *r)
{
	struct pf_error *err = NULL;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	snprintf(r->name, sizeof(r->name), "%s",
	    (const char *)sqlite3_column_text(st, 1));
	snprintf(r->kind, sizeof(r->kind), "%s",
	    (const char *)sqlite3_column_text(st, 2));
	snprintf(r->status, sizeof(r->status), "%s",
	    (const char *)sqlite3_column_text(st, 3));
	r->started_at = (time_t)sqlite3_column_int64(st, 4);
	r->finished_at = (time_t)sqlite3_column_int64(st, 5);
	r->duration_ms = sqlite3_column_int64(st, 6);
	r->csv_path = col_text(st, 7, &err);
	r->out_dir = col_text(st, 8, &err);
	r->signer_sha256 = col_text(st, 9, &err);
	r->signer_subject = col_text(st, 10, &err);
	r->n_rows = sqlite3_column_int64(st, 11);
	r->n_issued = sqlite3_column_int64(st, 12);
	r->n_reissued = sqlite3_column_int64(st, 13);
	r->n_unchanged = sqlite3_column_int64(st, 14);
	r->n_revoked = sqlite3_column_int64(st, 15);
	r->n_failed = sqlite3_column_int64(st, 16);
	r->error = col_text(st, 17, &err);
	if (err != NULL)
		pf_run_rec_clear(r);
	return err;
}

static struct pf_error *
run_iter(struct pf_db *db, const char *sql,
    struct pf_error *(*fn)(void *, const struct pf_run_rec *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, sql)) != NULL)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pf_run_rec r;

		if ((err = run_from_row(st, &r)) != NULL)
			break;
		err = fn(arg, &r);
		pf_run_rec_clear(&r);
		if (err != NULL)
			break;
	}
	if (err == NULL && rc != SQLITE_DONE)
		err = pf_db_error(db, "read runs");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_run_list(struct pf_db *db,
    struct pf_error *(*fn)(void *, const struct pf_run_rec *), void *arg)
{
	return run_iter(db, "SELECT " RUN_COLS " FROM runs ORDER BY id", fn,
	    arg);
}

struct pf_error *
pf_store_run_unfinished(struct pf_db *db,
    struct pf_error *(*fn)(void *, const struct pf_run_rec *), void *arg)
{
	return run_iter(db, "SELECT " RUN_COLS " FROM runs WHERE status = "
	    "'running' ORDER BY id", fn, arg);
}

struct pf_error *
pf_store_run_has_file(struct pf_db *db, long long run_id, const char *file,
    int *has)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT 1 FROM profiles WHERE "
	    "run_id = ? AND file = ?")) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, file, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*has = rc == SQLITE_ROW;
	else
		err = pf_db_error(db, "read profiles");
	sqlite3_finalize(st);
	return err;
}

enum { W_USER_FIND, W_USER, W_USER_UPDATE, W_PROFILE, W_CHALLENGE,
    W_SUPERSEDE_C, W_SUPERSEDE_P, W_FAILURE, W_SEEN, W_CHALLENGE_NOW,
    W_FILE_STAT, W_N };

/*
 * The writer's statements run inside the batch transaction, and any error
 * rolls that back whole: OR ROLLBACK says so to SQLite, which then keeps
 * no statement journal for each of them (with the default OR ABORT it
 * would, to undo one statement alone).
 */
static const char *const writer_sql[W_N] = {
	/* (an upsert with RETURNING costs SQLite an ephemeral table per
	 * call: find, then insert or update) */
	[W_USER_FIND] = "SELECT id, attrs_sha256, last_run FROM users WHERE "
	    "key = ?",
	[W_USER] = "INSERT OR ROLLBACK INTO users (key, attrs, attrs_sha256, "
	    "first_run, last_run, created_at, updated_at) VALUES (?1, ?2, ?3, "
	    "?4, ?4, ?5, ?5)",
	[W_USER_UPDATE] = "UPDATE OR ROLLBACK users SET attrs = ?2, "
	    "attrs_sha256 = ?3, last_run = ?4, updated_at = ?5 WHERE id = ?1",
	[W_PROFILE] = "INSERT OR ROLLBACK INTO profiles (run_id, user_id, "
	    "template_id, status, file, sha256, bytes, payload_identifier, "
	    "payload_uuid, attrs_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?)",
	[W_CHALLENGE] = "INSERT OR ROLLBACK INTO challenges (digest, "
	    "profile_id, user_id, template_id, issued_at, expires_at) VALUES "
	    "(?, ?, ?, ?, ?, ?)",
	[W_SUPERSEDE_C] = "UPDATE OR ROLLBACK challenges SET revoked_at = ?1, "
	    "revoke_reason = 'superseded' WHERE user_id = ?2 AND revoked_at "
	    "IS NULL AND template_id IN (SELECT id FROM templates WHERE name "
	    "= (SELECT name FROM templates WHERE id = ?3))",
	[W_SUPERSEDE_P] = "UPDATE OR ROLLBACK profiles SET superseded_at = ?1 "
	    "WHERE user_id = ?2 AND superseded_at IS NULL AND template_id IN "
	    "(SELECT id FROM templates WHERE name = (SELECT name FROM "
	    "templates WHERE id = ?3))",
	[W_FAILURE] = "INSERT OR ROLLBACK INTO failures (run_id, line, "
	    "user_key, template, error) VALUES (?, ?, ?, ?, ?)",
	[W_SEEN] = "INSERT OR IGNORE INTO temp.pf_seen (key) VALUES (?)",
	[W_CHALLENGE_NOW] = "SELECT revoke_reason IS 'revoked' AND revoked_at >= "
	    "?2, used_at IS NOT NULL FROM challenges WHERE id = ?1",
	[W_FILE_STAT] = "UPDATE OR ROLLBACK profiles SET file_ino = ?2, "
	    "file_mtime = ?3, file_ctime = ?4 WHERE id = ?1",
};

#define BIND_ROWS	4	/* bindings inserted by one statement */

struct pf_store_writer {
	struct pf_db *db;		/* borrowed */
	sqlite3_stmt *st[W_N];		/* owned */
	sqlite3_stmt *bind[BIND_ROWS + 1];	/* bind[n] inserts n rows;
					 * prepared when first needed */
};

/* The bindings of one profile, in one statement for up to BIND_ROWS. */
static struct pf_error *
record_bindings(struct pf_store_writer *w, long long profile_id,
    const struct pf_binding *b, size_t n)
{
	struct pf_error *err;
	struct pf_buf sql = { 0 };
	sqlite3_stmt *st;
	size_t i, k, rows;

	for (i = 0; i < n; i += rows) {
		rows = n - i < BIND_ROWS ? n - i : BIND_ROWS;
		if ((st = w->bind[rows]) == NULL) {
			err = pf_buf_addstr(&sql, "INSERT OR ROLLBACK INTO "
			    "bindings (profile_id, kind, name, value) VALUES ");
			for (k = 0; err == NULL && k < rows; k++)
				err = pf_buf_addstr(&sql, k ? ", (?, ?, ?, ?)" :
				    "(?, ?, ?, ?)");
			if (err == NULL)
				err = pf_db_prepare(w->db, &w->bind[rows],
				    sql.data);
			pf_buf_free(&sql);
			if (err != NULL)
				return err;
			st = w->bind[rows];
		}
		for (k = 0; k < rows; k++) {
			sqlite3_bind_int64(st, (int)(4 * k + 1), profile_id);
			sqlite3_bind_text(st, (int)(4 * k + 2), b[i + k].kind, -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(st, (int)(4 * k + 3), b[i + k].name, -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(st, (int)(4 * k + 4), b[i + k].value,
			    -1, SQLITE_STATIC);
		}
		if ((err = pf_db_step_done(w->db, st, "record binding")) !=
		    NULL)
			return err;
	}
	return NULL;
}

/* The connection's settings again once the writer is done. */
#define WRITER_DONE_SQL	"PRAGMA foreign_keys=ON; PRAGMA cache_size=-2000; " \
	"PRAGMA wal_autocheckpoint=1000"

struct pf_error *
pf_store_writer_new(struct pf_store_writer **out, struct pf_db *db,
    int cache_kib)
{
	struct pf_store_writer *w;
	struct pf_error *err;
	char sql[128];
	int i;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return pf_error_nomem();
	w->db = db;
	/*
	 * The writer's rows refer only to the run, the templates the run
	 * loaded and rows it has just written or looked up: checking each
	 * reference again would cost SQLite an index search per key, for
	 * several keys per profile.  The checks are back on when the writer
	 * is done (and on for every other use of the database).
	 *
	 * A run inserts into indexes whose keys arrive in random order
	 * (challenge digests, user keys, file names), so each batch touches
	 * pages all over them: a page cache of cache_kib (8 to 16 MiB, see
	 * pf_pipe_cache_kib()) instead of SQLite's 2 MiB keeps most of them
	 * instead of reading them back, and holds a batch's changed pages
	 * without spilling them to the log before its commit (which then
	 * writes them again); a checkpoint every 4 000 log pages instead of
	 * every 1 000 writes a page once for several batches and syncs less
	 * often.  (cache_kib is a number of ours, not data.)
	 */
	snprintf(sql, sizeof(sql), "PRAGMA foreign_keys=OFF; "
	    "PRAGMA cache_size=-%d; PRAGMA wal_autocheckpoint=4000",
	    cache_kib > 0 ? cache_kib : 2000);
	if ((err = pf_db_exec(db, sql)) != NULL ||
	    (err = pf_db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS "
	    "pf_seen (key TEXT PRIMARY KEY)")) != NULL) {
		pf_error_free(pf_db_exec(db, WRITER_DONE_SQL));
		free(w);
		return err;
	}
	for (i = 0; i < W_N; i++) {
		if ((err = pf_db_prepare(db, &w->st[i], writer_sql[i])) !=
		    NULL) {
			pf_store_writer_free(w);
			return err;
		}
	}
	*out = w;
	return NULL;
}

void
pf_store_writer_free(struct pf_store_writer *w)
{
	int i;

	if (w == NULL)
		return;
	for (i = 0; i < W_N; i++)
		sqlite3_finalize(w->st[i]);
	for (i = 0; i <= BIND_ROWS; i++)
		sqlite3_finalize(w->bind[i]);
	pf_error_free(pf_db_exec(w->db, WRITER_DONE_SQL));
	free(w);
}

/* Insert the user, or update its attributes and last run. */
static struct pf_error *
record_user(struct pf_store_writer *w, const struct pf_issue *is,
    long long *user_id)
{
	struct pf_error *err;
	sqlite3_stmt *st = w->st[W_USER_FIND];
	int rc, same = 0;

	*user_id = 0;
	sqlite3_bind_text(st, 1, is->user, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(st, 1);

		*user_id = sqlite3_column_int64(st, 0);
		same = sha != NULL && strcmp(sha, is->attrs_sha256) == 0 &&
		    sqlite3_column_int64(st, 2) == is->run_id;
	} else if (rc != SQLITE_DONE) {
		err = pf_db_error(w->db, "find user");
		sqlite3_reset(st);
		return err;
	}
	sqlite3_reset(st);
	if (same)
		return NULL;	/* another template of the same row */
	st = w->st[*user_id != 0 ? W_USER_UPDATE : W_USER];
	if (*user_id != 0)
		sqlite3_bind_int64(st, 1, *user_id);
	else
		sqlite3_bind_text(st, 1, is->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, is->attrs, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, is->attrs_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, is->run_id);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)is->now);
	if ((err = pf_db_step_done(w->db, st, "record user")) != NULL)
		return err;
	if (*user_id == 0)
		*user_id = sqlite3_last_insert_rowid(w->db->h);
	return NULL;
}

struct pf_error *
pf_store_issue(struct pf_store_writer *w, const struct pf_issue *is,
    long long *profile_idp, long long *challenge_id, int *reissued)
{
	struct pf_error *err;
	sqlite3_stmt *st;
	long long user_id, profile_id;
	size_t i;

	*profile_idp = 0;
	*challenge_id = 0;
	*reissued = 0;
	if ((err = record_user(w, is, &user_id)) != NULL)
		return err;

	for (i = W_SUPERSEDE_C; is->had_current && i <= W_SUPERSEDE_P; i++) {
		st = w->st[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)is->now);
		sqlite3_bind_int64(st, 2, user_id);
		sqlite3_bind_int64(st, 3, is->template_id);
		if ((err = pf_db_step_done(w->db, st, "supersede")) != NULL)
			return err;
		*reissued = sqlite3_changes(w->db->h) > 0;
	}

	st = w->st[W_PROFILE];
	sqlite3_bind_int64(st, 1, is->run_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, is->template_id);
	sqlite3_bind_text(st, 4, *reissued ? "reissued" : "issued", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 5, is->file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, is->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, is->bytes);
	sqlite3_bind_text(st, 8, is->payload_identifier, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, is->payload_uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, is->attrs_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)is->now);
	if ((err = pf_db_step_done(w->db, st, "record profile")) != NULL)
		return err;
	profile_id = sqlite3_last_insert_rowid(w->db->h);
	*profile_idp = profile_id;

	if (is->digest != NULL) {
		st = w->st[W_CHALLENGE];
		sqlite3_bind_blob(st, 1, is->digest, PF_SHA256_LEN,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, profile_id);
		sqlite3_bind_int64(st, 3, user_id);
		sqlite3_bind_int64(st, 4, is->template_id);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)is->now);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)is->expires);
		if ((err = pf_db_step_done(w->db, st, "record challenge")) !=
		    NULL)
			return err;
		*challenge_id = sqlite3_last_insert_rowid(w->db->h);
	}
	return record_bindings(w, profile_id, is->bindings, is->nbindings);
}

struct pf_error *
pf_store_failure(struct pf_store_writer *w, long long run_id, long line,
    const char *user, const char *tmpl, const char *error)
{
	sqlite3_stmt *st = w->st[W_FAILURE];

	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, line);
	sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, tmpl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, error, -1, SQLITE_STATIC);
	return pf_db_step_done(w->db, st, "record failure");
}

struct pf_error *
pf_store_seen(struct pf_store_writer *w, const char *key)
{
	sqlite3_bind_text(w->st[W_SEEN], 1, key, -1, SQLITE_STATIC);
	return pf_db_step_done(w->db, w->st[W_SEEN], "record key");
}

struct pf_error *
pf_store_file_stat(struct pf_store_writer *w, long long profile_id,
    long long ino, long long mtime, long long ctime)
{
	sqlite3_stmt *st = w->st[W_FILE_STAT];

	sqlite3_bind_int64(st, 1, profile_id);
	sqlite3_bind_int64(st, 2, ino);
	sqlite3_bind_int64(st, 3, mtime);
	sqlite3_bind_int64(st, 4, ctime);
	return pf_db_step_done(w->db, st, "record profile file");
}

struct pf_error *
pf_store_challenge_now(struct pf_store_writer *w, long long challenge_id,
    time_t since, int *revoked, int *used)
{
	sqlite3_stmt *st = w->st[W_CHALLENGE_NOW];
	struct pf_error *err = NULL;
	int rc;

	sqlite3_bind_int64(st, 1, challenge_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
	rc = sqlite3_step(st);
	*revoked = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
	*used = rc == SQLITE_ROW && sqlite3_column_int(st, 1) != 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = pf_db_error(w->db, "read challenges");
	sqlite3_reset(st);
	return err;
}

struct pf_error *
pf_store_revocations_since(struct pf_db *db, time_t since,
    struct pf_error *(*fn)(void *, const char *, const char *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT DISTINCT u.key, t.name "
	    "FROM challenges c JOIN users u ON u.id = c.user_id JOIN "
	    "templates t ON t.id = c.template_id WHERE c.revoke_reason = "
	    "'revoked' AND c.revoked_at >= ?1")) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1))) != NULL)
			break;
	if (err == NULL && rc != SQLITE_DONE)
		err = pf_db_error(db, "read revocations");
	sqlite3_finalize(st);
	return err;
}

void
pf_current_clear(struct pf_current *c)
{
	free(c->file);
	free(c->run);
	free(c->out_dir);
	free(c->identifier);
	memset(c, 0, sizeof(*c));
}

struct pf_store_lookup {
	struct pf_db *db;	/* borrowed */
	sqlite3_stmt *st;	/* owned */
};

struct pf_error *
pf_store_lookup_new(struct pf_store_lookup **out, struct pf_db *db)
{
	struct pf_store_lookup *l;
	struct pf_error *err;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return pf_error_nomem();
	l->db = db;
	if ((err = pf_db_prepare(db, &l->st, "SELECT p.id, p.template_id, "
	    "t.version, p.attrs_sha256, p.sha256, p.bytes, p.file, r.name, "
	    "r.out_dir, p.payload_identifier, c.id, c.expires_at, "
	    "c.used_at IS NOT NULL, c.revoke_reason, r.signer_sha256, "
	    "p.file_ino, p.file_mtime, p.file_ctime "
	    "FROM users u "
	    "JOIN profiles p ON p.user_id = u.id "
	    "JOIN templates t ON t.id = p.template_id "
	    "JOIN runs r ON r.id = p.run_id "
	    "LEFT JOIN challenges c ON c.profile_id = p.id "
	    "WHERE u.key = ?1 AND t.name = ?2 AND p.superseded_at IS NULL "
	    /* newest first, in the order of the profiles_user index (a
	     * template's versions and a user's profiles only grow), so
	     * SQLite needs no sort per lookup */
	    "ORDER BY p.template_id DESC, p.id DESC LIMIT 1")) != NULL) {
		free(l);
		return err;
	}
	*out = l;
	return NULL;
}

void
pf_store_lookup_free(struct pf_store_lookup *l)
{
	if (l == NULL)
		return;
	sqlite3_finalize(l->st);
	free(l);
}

struct pf_error *
pf_store_current(struct pf_store_lookup *l, const char *key, const char *tmpl,
    struct pf_current *c, int *found)
{
	struct pf_error *err = NULL;
	sqlite3_stmt *st = l->st;
	const unsigned char *txt;
	int rc;

	memset(c, 0, sizeof(*c));
	*found = 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tmpl, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*found = 1;
		c->profile_id = sqlite3_column_int64(st, 0);
		c->template_id = sqlite3_column_int64(st, 1);
		c->version = (long)sqlite3_column_int64(st, 2);
		snprintf(c->attrs_sha256, sizeof(c->attrs_sha256), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		snprintf(c->sha256, sizeof(c->sha256), "%s",
		    (const char *)sqlite3_column_text(st, 4));
		c->bytes = sqlite3_column_int64(st, 5);
		c->file = col_text(st, 6, &err);
		c->run = col_text(st, 7, &err);
		c->out_dir = col_text(st, 8, &err);
		c->identifier = col_text(st, 9, &err);
		c->challenge_id = sqlite3_column_int64(st, 10);
		c->expires = (time_t)sqlite3_column_int64(st, 11);
		c->used = sqlite3_column_int(st, 12);
		if ((txt = sqlite3_column_text(st, 13)) != NULL)
			snprintf(c->revoked, sizeof(c->revoked), "%s",
			    (const char *)txt);
		if ((txt = sqlite3_column_text(st, 14)) != NULL)
			snprintf(c->signer, sizeof(c->signer), "%s",
			    (const char *)txt);
		c->file_ino = sqlite3_column_int64(st, 15);
		c->file_mtime = sqlite3_column_int64(st, 16);
		c->file_ctime = sqlite3_column_int64(st, 17);
	} else if (rc != SQLITE_DONE)
		err = pf_db_error(l->db, "look up current profile");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (err != NULL)
		pf_current_clear(c);
	return err;
}

/* The profiles that --prune would take from users not in the CSV. */
#define FROM_OUTSTANDING "FROM profiles p " \
    "JOIN users u ON u.id = p.user_id " \
    "JOIN templates t ON t.id = p.template_id " \
    "JOIN runs r ON r.id = p.run_id " \
    "LEFT JOIN challenges c ON c.profile_id = p.id " \
    "WHERE p.superseded_at IS NULL AND (c.id IS NULL OR " \
    "c.revoked_at IS NULL)"

struct pf_error *
pf_store_outstanding_keys(struct pf_db *db,
    struct pf_error *(*fn)(void *, const char *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT u.key " FROM_OUTSTANDING))
	    != NULL)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = fn(arg, (const char *)sqlite3_column_text(st, 0)))
		    != NULL)
			break;
	if (err == NULL && rc != SQLITE_DONE)
		err = pf_db_error(db, "find users to prune");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_prune(struct pf_store_writer *w, time_t now,
    struct pf_error *(*fn)(void *, const struct pf_pruned *), void *arg)
{
	sqlite3_stmt *st = NULL, *upc = NULL, *upp = NULL, *upu = NULL;
	struct pf_error *err = NULL;
	long long (*ids)[2] = NULL;
	size_t n = 0, cap = 0, i;
	int rc;

	if ((err = pf_db_begin(w->db)) != NULL)
		return err;
	if ((err = pf_db_prepare(w->db, &upc, "UPDATE challenges SET "
	    "revoked_at = ?1, revoke_reason = 'pruned' WHERE id = ?2")) !=
	    NULL || (err = pf_db_prepare(w->db, &upp, "UPDATE profiles SET "
	    "superseded_at = ?1 WHERE id = ?2")) != NULL ||
	    /* and the user's used challenges of that template that a
	     * reissue superseded, which a retry could still use */
	    (err = pf_db_prepare(w->db, &upu, "UPDATE challenges SET "
	    "revoke_reason = 'pruned' WHERE revoke_reason = "
	    "'superseded' AND used_at IS NOT NULL AND user_id = "
	    "(SELECT user_id FROM profiles WHERE id = ?1) AND "
	    "template_id IN (SELECT t2.id FROM templates t2 JOIN "
	    "templates t1 ON t1.name = t2.name JOIN profiles p ON "
	    "p.template_id = t1.id WHERE p.id = ?1)")) != NULL)
		goto done;
	if ((err = pf_db_prepare(w->db, &st, "SELECT p.id, c.id, u.key, "
	    "t.name, t.version, p.file, r.name, r.out_dir, "
	    "p.payload_identifier, c.expires_at " FROM_OUTSTANDING
	    " AND u.key NOT IN (SELECT key FROM temp.pf_seen) "
	    "ORDER BY u.key, t.name")) != NULL)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pf_pruned pr;

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p = realloc(ids, ncap * sizeof(*ids));

			if (p == NULL) {
				err = pf_error_nomem();
				goto done;
			}
			ids = p;
			cap = ncap;
		}
		ids[n][0] = sqlite3_column_int64(st, 0);
		ids[n][1] = sqlite3_column_int64(st, 1);
		n++;
		memset(&pr, 0, sizeof(pr));
		pr.user = (const char *)sqlite3_column_text(st, 2);
		pr.tmpl = (const char *)sqlite3_column_text(st, 3);
		pr.version = (long)sqlite3_column_int64(st, 4);
		pr.file = (const char *)sqlite3_column_text(st, 5);
		pr.run = (const char *)sqlite3_column_text(st, 6);
		pr.out_dir = (const char *)sqlite3_column_text(st, 7);
		pr.identifier = (const char *)sqlite3_column_text(st, 8);
		pr.challenge_id = ids[n - 1][1];
		pr.expires = (time_t)sqlite3_column_int64(st, 9);
		if ((err = fn(arg, &pr)) != NULL)
			goto done;
	}
	if (rc != SQLITE_DONE) {
		err = pf_db_error(w->db, "find users to prune");
		goto done;
	}
	for (i = 0; i < n; i++) {
		/* its challenge pruned, or a profile without one retired */
		sqlite3_stmt *up = ids[i][1] != 0 ? upc : upp;

		sqlite3_bind_int64(up, 1, (sqlite3_int64)now);
		sqlite3_bind_int64(up, 2, ids[i][1] != 0 ? ids[i][1] :
		    ids[i][0]);
		if ((err = pf_db_step_done(w->db, up, "prune")) != NULL)
			goto done;
		sqlite3_bind_int64(upu, 1, ids[i][0]);
		if ((err = pf_db_step_done(w->db, upu, "prune")) != NULL)
			goto done;
	}
done:
	sqlite3_finalize(st);
	sqlite3_finalize(upc);
	sqlite3_finalize(upp);
	sqlite3_finalize(upu);
	free(ids);
	if (err == NULL)
		err = pf_db_commit(w->db);
	if (err != NULL)
		pf_db_rollback(w->db);
	return err;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define ACTIVE_USERS "SELECT p.user_id FROM profiles p JOIN templates t " \
    "ON t.id = p.template_id WHERE p.superseded_at IS NULL AND " \
    "t.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM challenges c " \
    "WHERE c.profile_id = p.id AND c.revoke_reason = 'pruned')"

struct pf_error *
pf_store_export_users(struct pf_db *db,
    struct pf_error *(*hdr)(void *, const char *const *, size_t),
    struct pf_error *(*row)(void *, const char *const *, size_t), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err = NULL;
	char **names = NULL, **vals = NULL;
	size_t n = 0, cap = 0, i;
	long long cur = -1;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT DISTINCT j.key FROM users "
	    "u, json_each(u.attrs) j WHERE u.id IN (" ACTIVE_USERS ") AND "
	    "j.key != 'template' ORDER BY 1")) != NULL)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = realloc(names, ncap * sizeof(*names));

			if (p == NULL) {
				err = pf_error_nomem();
				goto done;
			}
			names = p;
			cap = ncap;
		}
		if ((names[n++] = col_text(st, 0, &err)) == NULL) {
			n--;
			if (err == NULL)
				err = pf_error_nomem();
			goto done;
		}
	}
	if (rc != SQLITE_DONE) {
		err = pf_db_error(db, "read user attributes");
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (names == NULL && (names = malloc(sizeof(*names))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	names[n] = "template";
	if ((err = hdr(arg, (const char *const *)names, n + 1)) != NULL)
		goto done;
	if ((vals = calloc(n + 1, sizeof(*vals))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((err = pf_db_prepare(db, &st, "SELECT u.id, j.key, j.value, "
	    "(SELECT group_concat(t.name, ';') FROM profiles p JOIN "
	    "templates t ON t.id = p.template_id WHERE p.user_id = u.id AND "
	    "p.superseded_at IS NULL AND t.removed_at IS NULL) FROM users u, "
	    "json_each(u.attrs) j WHERE u.id IN (" ACTIVE_USERS ") AND "
	    "j.key != 'template' ORDER BY u.id")) != NULL)
		goto done;
	for (;;) {
		const char *key;
		char **hit;

		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			err = pf_db_error(db, "read users");
			goto done;
		}
		if (cur != -1 && (rc == SQLITE_DONE ||
		    sqlite3_column_int64(st, 0) != cur)) {
			for (i = 0; i <= n; i++)
				if (vals[i] == NULL)
					vals[i] = pf_strdup("");
			for (i = 0; i <= n; i++)
				if (vals[i] == NULL) {
					err = pf_error_nomem();
					goto done;
				}
			if ((err = row(arg, (const char *const *)vals,
			    n + 1)) != NULL)
				goto done;
			for (i = 0; i <= n; i++) {
				free(vals[i]);
				vals[i] = NULL;
			}
		}
		if (rc == SQLITE_DONE)
			break;
		cur = sqlite3_column_int64(st, 0);
		key = (const char *)sqlite3_column_text(st, 1);
		hit = key ? bsearch(&key, names, n, sizeof(*names),
		    cmp_str) : NULL;
		if (hit != NULL && vals[hit - names] == NULL)
			vals[hit - names] = col_text(st, 2, &err);
		if (vals[n] == NULL)
			vals[n] = col_text(st, 3, &err);
		if (err != NULL)
			goto done;
	}
done:
	sqlite3_finalize(st);
	if (vals != NULL)
		for (i = 0; i <= n; i++)
			free(vals[i]);
	free(vals);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

struct pf_error *
pf_store_current_files(struct pf_db *db, const char *user, const char *tmpl,
    void (*fn)(void *, const char *, const char *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT r.out_dir, p.file FROM "
	    "profiles p JOIN users u ON u.id = p.user_id JOIN runs r ON "
	    "r.id = p.run_id JOIN templates t ON t.id = p.template_id WHERE "
	    "u.key = ?1 AND p.superseded_at IS NULL AND (?2 IS NULL OR "
	    "t.name = ?2)")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tmpl, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
	if (rc != SQLITE_DONE)
		err = pf_db_error(db, "read current profiles");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_stale_links(struct pf_db *db, const char *out_dir, long long run_id,
    struct pf_error *(*fn)(void *, const char *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err = NULL;
	int rc;

	/* stale: a profile in out_dir that run_id reissued (its successor
	 * is of that run), or a user's newest there whose challenge is
	 * revoked or pruned; never the name of a current profile there */
	if ((err = pf_db_prepare(db, &st, "SELECT DISTINCT p.file FROM "
	    "profiles p JOIN runs r ON r.id = p.run_id JOIN templates t ON "
	    "t.id = p.template_id LEFT JOIN challenges c ON c.profile_id = "
	    "p.id WHERE r.out_dir = ?1 AND ((p.superseded_at IS NOT NULL AND "
	    "EXISTS (SELECT 1 FROM profiles n JOIN templates nt ON nt.id = "
	    "n.template_id WHERE n.run_id = ?2 AND n.user_id = p.user_id AND "
	    "nt.name = t.name AND n.id > p.id)) OR (p.superseded_at IS NULL "
	    "AND c.revoke_reason IN ('revoked', 'pruned'))) AND p.file NOT IN "
	    "(SELECT p2.file FROM profiles p2 JOIN runs r2 ON r2.id = "
	    "p2.run_id LEFT JOIN challenges c2 ON c2.profile_id = p2.id "
	    "WHERE r2.out_dir = ?1 AND p2.superseded_at IS NULL AND "
	    "(c2.id IS NULL OR c2.revoked_at IS NULL))")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, out_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = fn(arg, (const char *)sqlite3_column_text(st, 0))) !=
		    NULL)
			break;
	if (err == NULL && rc != SQLITE_DONE)
		err = pf_db_error(db, "read stale profiles");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_run_find(struct pf_db *db, const char *ident, struct pf_run_rec *out)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((err = pf_db_prepare(db, &st, "SELECT " RUN_COLS " FROM runs "
	    "WHERE name = ?1 OR CAST(id AS TEXT) = ?1 OR (?1 = 'latest' AND "
	    "id = (SELECT max(id) FROM runs WHERE status = 'done'))")) != NULL)
		return err;
	sqlite3_bind_text(st, 1, ident, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = run_from_row(st, out);
	else if (rc == SQLITE_DONE)
		err = pf_error_fmt(PF_EX_DATAERR, "run \"%s\" not found "
		    "(see \"profactory runs\")", ident);
	else
		err = pf_db_error(db, "read run");
	sqlite3_finalize(st);
	return err;
}

struct pf_error *
pf_store_run_has_column(struct pf_db *db, long long run_id,
    const char *column, int *has)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int rc;

	if ((err = pf_db_prepare(db, &st, "SELECT 1 FROM profiles p JOIN "
	    "users u ON u.id = p.user_id, json_each(u.attrs) j WHERE "
	    "p.run_id = ?1 AND j.key = ?2 LIMIT 1")) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*has = rc == SQLITE_ROW;
	else
		err = pf_db_error(db, "read user attributes");
	sqlite3_finalize(st);
	return err;
}

void
pf_mail_item_clear(struct pf_mail_item *it)
{
	free(it->file);
	free(it->tmpl);
	free(it->user);
	free(it->attrs);
	memset(it, 0, sizeof(*it));
}

enum { MQ_NEXT, MQ_ATTRS, MQ_SENT, MQ_N };

static const char *const mailq_sql[MQ_N] = {
	/* Keyset paging over the (run_id, file) index: one short read
	 * each, so the sent records commit at once. */
	[MQ_NEXT] = "SELECT p.id, p.file, p.sha256, p.bytes, t.name, u.key, "
	    "u.attrs, CASE WHEN c.revoke_reason IS NOT NULL THEN "
	    "c.revoke_reason WHEN p.superseded_at IS NOT NULL THEN "
	    "'superseded' WHEN c.used_at IS NOT NULL THEN 'used' WHEN "
	    "c.expires_at <= ?3 THEN 'expired' ELSE '' END, m.sent_at "
	    "FROM profiles p JOIN users u ON u.id = p.user_id "
	    "JOIN templates t ON t.id = p.template_id "
	    "LEFT JOIN challenges c ON c.profile_id = p.id "
	    "LEFT JOIN mail_sent m ON m.profile_id = p.id "
	    "WHERE p.run_id = ?1 AND p.file > ?2 ORDER BY p.file LIMIT 1",
	[MQ_ATTRS] = "SELECT key, value FROM json_each(?1) WHERE type = "
	    "'text'",
	[MQ_SENT] = "INSERT INTO mail_sent (profile_id, to_addr, message_id, "
	    "sent_at) VALUES (?, ?, ?, ?)",
};

struct pf_store_mailq {
	struct pf_db *db;		/* borrowed */
	sqlite3_stmt *st[MQ_N];		/* owned */
	long long run_id;
	time_t now;			/* challenges expired by then */
	char *last;			/* malloc'd file of the last item */
};

struct pf_error *
pf_store_mailq_new(struct pf_store_mailq **out, struct pf_db *db,
    long long run_id, time_t now)
{
	struct pf_store_mailq *q;
	struct pf_error *err;
	int i;

	*out = NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return pf_error_nomem();
	q->db = db;
	q->run_id = run_id;
	q->now = now;
	for (i = 0; i < MQ_N; i++) {
		if ((err = pf_db_prepare(db, &q->st[i], mailq_sql[i])) !=
		    NULL) {
			pf_store_mailq_free(q);
			return err;
		}
	}
	*out = q;
	return NULL;
}

void
pf_store_mailq_free(struct pf_store_mailq *q)
{
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < MQ_N; i++)
		sqlite3_finalize(q->st[i]);
	free(q->last);
	free(q);
}

struct pf_error *
pf_store_mailq_next(struct pf_store_mailq *q, struct pf_mail_item *it,
    int *found)
{
	sqlite3_stmt *st = q->st[MQ_NEXT];
	struct pf_error *err = NULL;
	int rc;

	memset(it, 0, sizeof(*it));
	*found = 0;
	sqlite3_bind_int64(st, 1, q->run_id);
	sqlite3_bind_text(st, 2, q->last != NULL ? q->last : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)q->now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		it->profile_id = sqlite3_column_int64(st, 0);
		it->file = col_text(st, 1, &err);
		snprintf(it->sha256, sizeof(it->sha256), "%s",
		    (const char *)sqlite3_column_text(st, 2));
		it->bytes = sqlite3_column_int64(st, 3);
		it->tmpl = col_text(st, 4, &err);
		it->user = col_text(st, 5, &err);
		it->attrs = col_text(st, 6, &err);
		snprintf(it->stale, sizeof(it->stale), "%s",
		    (const char *)sqlite3_column_text(st, 7));
		it->sent_at = (time_t)sqlite3_column_int64(st, 8);
		if (err == NULL && (it->file == NULL || it->tmpl == NULL ||
		    it->user == NULL || it->attrs == NULL))
			err = pf_error_nomem();
		if (err == NULL) {
			free(q->last);
			if ((q->last = pf_strdup(it->file)) == NULL)
				err = pf_error_nomem();
		}
		*found = err == NULL;
	} else if (rc != SQLITE_DONE)
		err = pf_db_error(q->db, "read profiles of the run");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (err != NULL)
		pf_mail_item_clear(it);
	return err;
}

struct pf_error *
pf_store_mailq_attrs(struct pf_store_mailq *q, const char *json,
    struct pf_error *(*fn)(void *, const char *, const char *), void *arg)
{
	sqlite3_stmt *st = q->st[MQ_ATTRS];
	struct pf_error *err = NULL;
	int rc;

	sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1))) != NULL)
			break;
	if (err == NULL && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = pf_db_error(q->db, "read user attributes");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

struct pf_error *
pf_store_mailq_sent(struct pf_store_mailq *q, long long profile_id,
    const char *to, const char *message_id, time_t at)
{
	sqlite3_stmt *st = q->st[MQ_SENT];

	sqlite3_bind_int64(st, 1, profile_id);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)at);
	return pf_db_step_done(q->db, st, "record mail sent");
}
