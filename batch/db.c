#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "migrations.h"
#include "util.h"

int
pf_db_schema_version(void)
{
	return pf_nmigrations > 0 ? pf_migrations[pf_nmigrations - 1].version : 0;
}

struct pf_error *
pf_db_error(struct pf_db *db, const char *what)
{
	int rc = sqlite3_extended_errcode(db->h);
	int code;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = PF_EX_TEMPFAIL;
		break;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_READONLY:
		code = PF_EX_IOERR;
		break;
	case SQLITE_CANTOPEN:
		code = PF_EX_CANTCREAT;
		break;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		code = PF_EX_CONFIG;
		break;
	default:
		code = PF_EX_SOFTWARE;
	}
	return pf_error_fmt(code, "%s: %s: %s", db->path, what,
	    sqlite3_errmsg(db->h));
}

struct pf_error *
pf_db_exec(struct pf_db *db, const char *sql)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return pf_db_error(db, "exec");
	return NULL;
}

struct pf_error *
pf_db_begin(struct pf_db *db)
{
	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return pf_db_error(db, "begin transaction");
	return NULL;
}

struct pf_error *
pf_db_commit(struct pf_db *db)
{
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return pf_db_error(db, "commit");
	return NULL;
}

void
pf_db_rollback(struct pf_db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

struct pf_error *
pf_db_prepare(struct pf_db *db, sqlite3_stmt **st, const char *sql)
{
	*st = NULL;
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK)
		return pf_db_error(db, "prepare");
	return NULL;
}

struct pf_error *
pf_db_step_done(struct pf_db *db, sqlite3_stmt *st, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		struct pf_error *err = pf_db_error(db, what);

		sqlite3_reset(st);
		return err;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return NULL;
}

/* Schema version recorded in the database (0 for a new file). */
/* The integer a PRAGMA without arguments returns (what: for the error). */
static struct pf_error *
pragma_int(struct pf_db *db, const char *sql, const char *what,
    long long *v)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	*v = 0;
	if ((err = pf_db_prepare(db, &st, sql)) != NULL)
		return err;
	if (sqlite3_step(st) != SQLITE_ROW)
		err = pf_db_error(db, what);
	else
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return err;
}

static struct pf_error *
get_version(struct pf_db *db, int *version)
{
	struct pf_error *err;
	long long v;

	err = pragma_int(db, "PRAGMA user_version", "read schema version", &v);
	*version = (int)v;
	return err;
}

struct pf_error *
pf_db_data_version(struct pf_db *db, long long *v)
{
	return pragma_int(db, "PRAGMA data_version", "read data_version", v);
}

/*
 * Before SQLite's first use: no memory statistics, which profactory never
 * reads and which cost a global mutex on every allocation SQLite makes,
 * from every thread of a run.
 */
static void
configure(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void
pf_db_lean(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

/* An error if db has schema version 0 and yet holds tables: it is not
 * profactory's. */
static struct pf_error *
foreign(struct pf_db *db)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	int version, rc;

	if ((err = get_version(db, &version)) != NULL || version != 0)
		return err;
	if ((err = pf_db_prepare(db, &st, "SELECT name FROM sqlite_master "
	    "WHERE name NOT GLOB 'sqlite_*' LIMIT 1")) != NULL)
		return err;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		err = pf_error_fmt(PF_EX_CONFIG, "%s: not a profactory "
		    "database (it holds tables of something else, such as "
		    "\"%.60s\"); give another --db", db->path,
		    (const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE)
		err = pf_db_error(db, "read the schema");
	sqlite3_finalize(st);
	return err;
}

/*
 * The database and its -wal and -shm files must be the caller's: a file
 * of another user's (a database, or a write-ahead log, put in a shared
 * folder before us) is refused, whatever its mode now, which its owner
 * can change at any time: every write would go through it.  Root may use
 * another user's 0600 database, for maintenance, with -wal and -shm of
 * the same owner (SQLite gives them that owner).  With fix, one of the
 * caller's own with a looser mode (a copy, a restore) is made 0600,
 * before the switch to WAL makes the -wal and -shm files, which take the
 * database's mode.  owner: the database file's owner, or -1 for the
 * database file itself.
 */
static struct pf_error *
private_file(const char *path, const char *suffix, int fix, long owner)
{
	char name[PATH_MAX + 8];
	struct stat sb;
	uid_t me = geteuid();

	if ((size_t)snprintf(name, sizeof(name), "%s%s", path, suffix) >=
	    sizeof(name))
		return pf_error_fmt(PF_EX_CONFIG, "%s: path too long", path);
	if (lstat(name, &sb) == -1)
		return errno == ENOENT ? NULL : pf_error_errno(PF_EX_IOERR,
		    "%s", name);
	if (sb.st_uid != me && !(me == 0 && (owner == -1 ?
	    (sb.st_mode & 077) == 0 : (long)sb.st_uid == owner)))
		return pf_error_fmt(PF_EX_CONFIG, "%s: another user's (uid "
		    "%ld; this is uid %ld): not used; make it this user's, or "
		    "run as its owner", name, (long)sb.st_uid, (long)me);
	if (fix && S_ISREG(sb.st_mode) && sb.st_uid == me &&
	    (sb.st_mode & 077) != 0 && chmod(name, 0600) == -1)
		return pf_error_errno(PF_EX_IOERR, "chmod %s", name);
	return NULL;
}

/* private_file() for the database at path, its -wal and -shm. */
static struct pf_error *
private_files(const char *path, int fix)
{
	struct pf_error *err;
	struct stat sb;
	char real[PATH_MAX];
	const char *rp = realpath(path, real) != NULL ? real : path;
	long owner = stat(rp, &sb) == 0 ? (long)sb.st_uid : -2;

	if ((err = private_file(rp, "", fix, -1)) != NULL ||
	    (err = private_file(rp, "-wal", fix, owner)) != NULL)
		return err;
	return private_file(rp, "-shm", fix, owner);
}

struct pf_error *
pf_db_open(struct pf_db **out, const char *path, int flags)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct pf_db *db = NULL;
	struct pf_error *err = NULL;
	struct stat sb;
	int fd, version = 0, want = pf_db_schema_version();

	(void)pthread_once(&once, configure);
	*out = NULL;
	if (stat(path, &sb) == -1) {
		if (errno != ENOENT || !(flags & PF_DB_CREATE))
			return pf_error_errno(errno == ENOENT ?
			    PF_EX_NOINPUT : PF_EX_IOERR,
			    "%s%s", path, errno == ENOENT ?
			    " (run \"profactory init\" to create it)" : "");
		/* Create it 0600 before SQLite does, whatever the umask. */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1 && errno != EEXIST)
			return pf_error_errno(PF_EX_CANTCREAT, "%s", path);
		if (fd != -1)
			close(fd);
	} else if (!S_ISREG(sb.st_mode))
		return pf_error_fmt(PF_EX_CONFIG, "%s: not a regular file",
		    path);
	if ((err = private_files(path, 0)) != NULL)
		return err;

	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->path = pf_strdup(path)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		/* There, but not to be opened for reading and writing
		 * (another user's, say): an input that cannot be read. */
		err = db->h == NULL ? pf_error_nomem() :
		    (sqlite3_errcode(db->h) & 0xff) == SQLITE_CANTOPEN ?
		    pf_error_fmt(PF_EX_NOINPUT, "%s: cannot open it for "
		    "reading and writing: %s", path, access(path, R_OK | W_OK)
		    == -1 ? strerror(errno) : sqlite3_errmsg(db->h)) :
		    pf_db_error(db, "open");
		goto done;
	}
	/* SQLite opens a file it may not write read-only, silently */
	if (sqlite3_db_readonly(db->h, "main") == 1) {
		err = pf_error_fmt(PF_EX_NOINPUT, "%s: cannot open it for "
		    "reading and writing: %s", path, access(path, W_OK) == -1 ?
		    strerror(errno) : "read-only");
		goto done;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, 10000);
	/* Before changing anything in it: another application's database
	 * (tables, and no schema version of ours) is left alone. */
	if ((err = foreign(db)) != NULL ||
	    (err = private_files(path, 1)) != NULL)
		goto done;
	if ((err = pf_db_exec(db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON;")) != NULL)
		goto done;
	if ((err = get_version(db, &version)) != NULL)
		goto done;
	if (!(flags & PF_DB_NOCHECK)) {
		if (version > want)
			err = pf_error_fmt(PF_EX_CONFIG, "%s: schema version "
			    "%d is newer than this profactory knows (%d)",
			    path, version, want);
		else if (version < want)
			err = pf_error_fmt(PF_EX_CONFIG, "%s: schema version "
			    "%d, this profactory needs %d (run \"profactory "
			    "init\" to migrate)", path, version, want);
		if (err != NULL)
			goto done;
	}
	*out = db;
	db = NULL;
done:
	pf_db_close(db);
	return err;
}

void
pf_db_close(struct pf_db *db)
{
	if (db == NULL)
		return;
	if (db->h != NULL)
		sqlite3_close_v2(db->h);
	free(db->path);
	free(db);
}

struct pf_error *
pf_db_migrate(struct pf_db *db, int *from, int *to)
{
	struct pf_error *err = NULL;
	char *sql = NULL;
	int i, version;

	if ((err = pf_db_begin(db)) != NULL)
		return err;
	if ((err = get_version(db, &version)) != NULL)
		goto done;
	*from = version;
	if (version > pf_db_schema_version()) {
		err = pf_error_fmt(PF_EX_CONFIG, "%s: schema version %d is "
		    "newer than this profactory knows (%d)", db->path,
		    version, pf_db_schema_version());
		goto done;
	}
	if ((err = pf_db_exec(db, "CREATE TABLE IF NOT EXISTS "
	    "schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
	    "NULL, applied_at INTEGER NOT NULL)")) != NULL)
		goto done;
	for (i = 0; i < pf_nmigrations; i++) {
		const struct pf_migration *m = &pf_migrations[i];

		if (m->version <= version)
			continue;
		if ((err = pf_db_exec(db, m->sql)) != NULL) {
			pf_error_prefix(err, "migration %s", m->name);
			goto done;
		}
		sql = sqlite3_mprintf("INSERT INTO schema_migrations VALUES "
		    "(%d, %Q, strftime('%%s','now')); PRAGMA user_version=%d",
		    m->version, m->name, m->version);
		if (sql == NULL) {
			err = pf_error_nomem();
			goto done;
		}
		if ((err = pf_db_exec(db, sql)) != NULL)
			goto done;
		sqlite3_free(sql);
		sql = NULL;
		version = m->version;
	}
	*to = version;
	err = pf_db_commit(db);
done:
	sqlite3_free(sql);
	if (err != NULL)
		pf_db_rollback(db);
	return err;
}

int
pf_db_lock_path(const char *dbpath, const char *suffix, char *buf,
    size_t len)
{
	char real[PATH_MAX];

	/* The database itself, whatever name or link leads to it: SQLite
	 * follows links, so two names of one file must share the lock. */
	if (realpath(dbpath, real) != NULL)
		dbpath = real;
	return (size_t)snprintf(buf, len, "%s%s", dbpath, suffix) >= len ?
	    -1 : 0;
}

struct pf_error *
pf_db_lock(struct pf_db *db, int wait, int *fdp)
{
	char path[4096], info[128], when[32];
	ssize_t n = 0;
	int fd, tries;

	*fdp = -1;
	if (pf_db_lock_path(db->path, ".lock", path, sizeof(path)) == -1)
		return pf_error_fmt(PF_EX_CONFIG, "%s: path too long",
		    db->path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s", path);
	if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1) {
		struct pf_error *err;

		if (errno != EWOULDBLOCK) {
			err = pf_error_errno(PF_EX_IOERR, "lock %s", path);
			close(fd);
			return err;
		}
		/* The holder writes its line just after it locks. */
		for (tries = 0; tries < 50; tries++) {
			n = pread(fd, info, sizeof(info) - 1, 0);
			if (n > 0)
				break;
			usleep(10000);
		}
		info[n > 0 ? n : 0] = '\0';
		info[strcspn(info, "\n")] = '\0';
		close(fd);
		return pf_error_fmt(PF_EX_TEMPFAIL, "%s: another run holds "
		    "the lock (%s); use --wait to wait for it", db->path,
		    info[0] ? info : "holder unknown");
	}
	/*
	 * Also an open file description lock on it, which other processes
	 * can see without taking it (pf_db_run_active()); flock(2) stays the
	 * lock, as the documentation tells administrators.
	 */
	{
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		(void)fcntl(fd, F_OFD_SETLK, &fl);
	}
	pf_time_iso(time(NULL), when, sizeof(when));
	n = snprintf(info, sizeof(info), "pid %ld, started %s\n",
	    (long)getpid(), when);
	if (pwrite(fd, info, (size_t)n, 0) != n || ftruncate(fd, n) == -1) {
		struct pf_error *err = pf_error_errno(PF_EX_IOERR, "%s", path);

		close(fd);
		return err;
	}
	*fdp = fd;
	return NULL;
}

int
pf_db_run_active(const char *dbpath)
{
	char path[4096];
	struct flock fl;
	int fd, r;

	if (pf_db_lock_path(dbpath, ".lock", path, sizeof(path)) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno == ENOENT ? 0 : -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;	/* what would conflict with taking it */
	fl.l_whence = SEEK_SET;
	r = fcntl(fd, F_OFD_GETLK, &fl) == -1 ? -1 : fl.l_type != F_UNLCK;
	close(fd);
	return r;
}

void
pf_db_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}
