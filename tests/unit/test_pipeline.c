/*
 * pipeline: the memory a run's writer connection may take for its page
 * cache, shared with the duplicate-key set, and that the writer applies
 * it (and gives SQLite's default back when it is done).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "pipeline.h"
#include "store.h"
#include "t.h"

static char tdir[PATH_MAX / 2];	/* mkdtemp'd; kept when a test fails */

/* The key set of a CSV of n keys, as keyset_reserve() sizes it. */
static size_t
keyset_bytes(size_t n)
{
	return (n / 3 * 4 + 4) * sizeof(uint64_t);
}

static void
test_budget(void)
{
	/* small and ordinary CSVs: the whole cache */
	T_CHECK(pf_pipe_cache_kib(0) == PF_PIPE_CACHE_MAX);
	T_CHECK(pf_pipe_cache_kib(keyset_bytes(100000)) == PF_PIPE_CACHE_MAX);
	T_CHECK(pf_pipe_cache_kib(keyset_bytes(500000)) < PF_PIPE_CACHE_MAX);
	/* 1 000 000 keys take 10.2 MiB: the cache gives way */
	T_CHECK(pf_pipe_cache_kib(keyset_bytes(1000000)) ==
	    PF_PIPE_SHARED_KIB - (int)(keyset_bytes(1000000) / 1024));
	T_CHECK(pf_pipe_cache_kib(keyset_bytes(1000000)) +
	    (int)(keyset_bytes(1000000) / 1024) <= PF_PIPE_SHARED_KIB);
	/* and never below its floor, however large the set */
	T_CHECK(pf_pipe_cache_kib(keyset_bytes(1500000)) == PF_PIPE_CACHE_MIN);
	T_CHECK(pf_pipe_cache_kib((size_t)PF_PIPE_SHARED_KIB * 1024) ==
	    PF_PIPE_CACHE_MIN);
	T_CHECK(pf_pipe_cache_kib(SIZE_MAX) == PF_PIPE_CACHE_MIN);
	/* it only shrinks as the set grows */
	{
		size_t n;
		int last = PF_PIPE_CACHE_MAX, kib;

		for (n = 0; n <= 3000000; n += 50000) {
			kib = pf_pipe_cache_kib(keyset_bytes(n));
			T_CHECK(kib <= last && kib >= PF_PIPE_CACHE_MIN &&
			    kib <= PF_PIPE_CACHE_MAX);
			last = kib;
		}
	}
}

/* PRAGMA cache_size on db's connection. */
static long long
cache_size(struct pf_db *db)
{
	sqlite3_stmt *st = NULL;
	long long v = 0;

	if (sqlite3_prepare_v2(db->h, "PRAGMA cache_size", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_writer_cache(void)
{
	struct pf_store_writer *w = NULL;
	struct pf_db *db = NULL;
	char path[PATH_MAX];
	int from, to;

	snprintf(path, sizeof(path), "%s/pf.db", tdir);
	T_OK(pf_db_open(&db, path, PF_DB_CREATE | PF_DB_NOCHECK));
	T_REQUIRE(db != NULL);
	T_OK(pf_db_migrate(db, &from, &to));
	T_OK(pf_store_writer_new(&w, db, 12345));
	T_CHECK(w != NULL);
	T_CHECK(cache_size(db) == -12345);
	pf_store_writer_free(w);
	/* back to the connection's ordinary size */
	T_CHECK(cache_size(db) == -2000);
	pf_db_close(db);
}

int
main(void)
{
	snprintf(tdir, sizeof(tdir), "%s/pf-pipeline.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_budget);
	T_RUN(test_writer_cache);
	if (t_nfail == 0)
		t_rm_rf(tdir);
	else
		fprintf(stderr, "test files kept in %s\n", tdir);
	T_DONE();
}
