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

/*
 * The budget against figures worked out by hand: the duplicate-key set
 * of a CSV of n keys holds n / 3 * 4 + 4 slots of 8 bytes (1 066 688
 * bytes for 100 000 keys, 5 333 344 for 500 000, 10 666 688 for
 * 1 000 000, 16 000 032 for 1 500 000), and the cache gets what it
 * leaves of 20 480 KiB, between 8 192 and 16 384.
 */
static void
test_budget(void)
{
	static const struct {
		size_t set_bytes;
		int cache_kib;
	} want[] = {
		{ 0, 16384 },
		{ 1066688, 16384 },		/* 100 000 keys */
		{ 4194304, 16384 },		/* 4 MiB: the whole cache */
		{ 4195328, 16383 },		/* 1 KiB more */
		{ 5333344, 15272 },		/* 500 000 keys */
		{ 10666688, 10064 },		/* 1 000 000 keys */
		{ 12582912, 8192 },		/* 12 MiB: the floor */
		{ 16000032, 8192 },		/* 1 500 000 keys */
		{ SIZE_MAX, 8192 },
	};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int kib = pf_pipe_cache_kib(want[i].set_bytes);

		if (kib != want[i].cache_kib)
			fprintf(stderr, "%zu bytes: %d KiB, want %d\n",
			    want[i].set_bytes, kib, want[i].cache_kib);
		T_CHECK(kib == want[i].cache_kib);
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
