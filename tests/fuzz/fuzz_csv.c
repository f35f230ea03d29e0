/*
 * libFuzzer target for batch/csvin.c: the input bytes are a CSV file.
 *
 * The bytes go into a memfd (a temp file when memfd_create is missing)
 * that pf_csv_open() reads through /proc/self/fd/N.  Each input is read
 * three ways, and the three transcripts (header, every row with its line,
 * fields and problem, the final error) must be equal:
 *   1. whole: read() returns all it is asked for;
 *   2. rewound: pf_csv_rewind() after the first pass, then read again;
 *   3. cut: read() returns short counts from a schedule seeded by the
 *      input, so records, CRLF pairs and the BOM straddle read buffers.
 * The short reads come from linking with -Wl,--wrap=read (see __wrap_read
 * below and the Makefile).  When the reader succeeds, its records must
 * also be the ones libcsv gives for the whole text at once, and the
 * contracts of csvin.h are checked on every row.  Any difference aborts.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <csv.h>

#include "csvin.h"
#include "error.h"

#include "check.h"

#define MAX_ROWS	100000		/* safety net: inputs are small */
/* The harness's own bookkeeping gives the fuzzer no useful feedback and
 * costs time: leave it out of the coverage instrumentation. */
#define NOCOV		__attribute__((no_sanitize("coverage")))

ssize_t __real_read(int, void *, size_t);
ssize_t __wrap_read(int, void *, size_t);
int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int fd = -1;			/* the memfd holding the input */
static char path[64];			/* /proc/self/fd/N */

/* Short-read schedule; off (cut_on 0) outside pass 3. */
static int cut_on;
static uint64_t cut_state;

/* A transcript: bytes appended, compared with memcmp. */
struct tr {
	char *p;			/* malloc'd */
	size_t len, cap;
};

NOCOV static void
tr_put(struct tr *t, const void *s, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 256;
		if ((t->p = realloc(t->p, t->cap)) == NULL)
			abort();
	}
	if (n > 0)
		memcpy(t->p + t->len, s, n);
	t->len += n;
}

NOCOV static void
tr_printf(struct tr *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

NOCOV static void
tr_printf(struct tr *t, const char *fmt, ...)
{
	char buf[PF_ERRMSG_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	tr_put(t, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A field as "len:bytes". */
NOCOV static void
tr_field(struct tr *t, const void *s, size_t n)
{
	char num[24];
	size_t i = sizeof(num), v = n;

	num[--i] = ':';
	do
		num[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	tr_put(t, num + i, sizeof(num) - i);
	tr_put(t, s, n);
}

NOCOV static uint64_t
next_rand(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Every read() of the linked objects lands here (-Wl,--wrap=read).  In
 * pass 3 a read returns at most 1..128 bytes, sizes drawn from the input's
 * schedule; otherwise this is read().
 */
ssize_t
__wrap_read(int rfd, void *buf, size_t n)
{
	uint64_t r;
	size_t cap;

	if (cut_on && n > 0) {
		r = next_rand(&cut_state);
		cap = 1 + (size_t)((r >> 8) % ((size_t)1 << (r % 8)));
		if (n > cap)
			n = cap;
	}
	return __real_read(rfd, buf, n);
}

static void
fail(const char *what, const struct tr *a, const struct tr *b)
{
	size_t i;

	for (i = 0; i < a->len && i < b->len && a->p[i] == b->p[i]; i++)
		;
	fprintf(stderr, "fuzz_csv: %s: transcripts differ at byte %zu "
	    "(lengths %zu, %zu)\n--- first:\n%.*s\n--- second:\n%.*s\n",
	    what, i, a->len, b->len, (int)a->len, a->p, (int)b->len, b->p);
	abort();
}

/* The error's code and message; checks the "path:" prefix. */
NOCOV static void
tr_error(struct tr *t, const struct pf_error *err)
{
	CHECK(err->code != PF_EX_OK);
	CHECK(strncmp(err->msg, path, strlen(path)) == 0);
	tr_printf(t, "E%d %s\n", err->code, err->msg);
}

/* Check one row against the contract of csvin.h and record it. */
NOCOV static void
tr_row(struct tr *t, const struct pf_csv *r, const struct pf_csv_row *row,
    long *lastline)
{
	size_t i;

	CHECK(row->line > *lastline);
	*lastline = row->line;
	CHECK(row->nfields <= PF_CSV_MAX_COLUMNS);
	if (row->nfields != pf_csv_ncols(r))
		CHECK(row->problem != NULL);
	if (row->problem != NULL)
		CHECK(row->problem[0] != '\0');
	tr_printf(t, "L%ld N%zu P%s\n", row->line, row->nfields,
	    row->problem != NULL ? row->problem : "-");
	for (i = 0; i < row->nfields; i++) {
		CHECK(row->fields[i] != NULL);
		CHECK(row->fields[i][row->lens[i]] == '\0');
		/* a kept field without a problem is text */
		if (row->problem == NULL)
			CHECK(memchr(row->fields[i], '\0', row->lens[i]) ==
			    NULL && row->lens[i] <= PF_CSV_MAX_FIELD);
		tr_field(t, row->fields[i], row->lens[i]);
	}
	tr_put(t, "\n", 1);
}

/* Rows until the end or an error; returns 1 if it ended on an error. */
static int
read_rows(struct pf_csv *r, struct tr *t)
{
	struct pf_error *err, *again;
	struct pf_csv_row *row;
	long lastline = 1;
	int n;

	for (n = 0; n < MAX_ROWS; n++) {
		if ((err = pf_csv_next(r, &row)) != NULL) {
			CHECK(row == NULL);
			CHECK(err->code == PF_EX_DATAERR ||
			    err->code == PF_EX_IOERR);
			tr_error(t, err);
			/* the error stays */
			again = pf_csv_next(r, &row);
			CHECK(again != NULL && row == NULL &&
			    again->code == err->code &&
			    strcmp(again->msg, err->msg) == 0);
			pf_error_free(again);
			pf_error_free(err);
			return 1;
		}
		if (row == NULL) {
			/* the end stays the end */
			err = pf_csv_next(r, &row);
			CHECK(err == NULL && row == NULL);
			tr_put(t, "END\n", 4);
			return 0;
		}
		tr_row(t, r, row, &lastline);
	}
	abort();
}

NOCOV static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The header as the reader gives it; checks the header contract. */
NOCOV static void
tr_header(struct tr *t, const struct pf_csv *r)
{
	size_t i, n = pf_csv_ncols(r);
	const char *const *names = pf_csv_colnames(r);
	const char *sorted[PF_CSV_MAX_COLUMNS];

	CHECK(n >= 1 && n <= PF_CSV_MAX_COLUMNS);
	CHECK(strcmp(pf_csv_path(r), path) == 0);
	CHECK(pf_csv_colname(r, n) == NULL);
	for (i = 0; i < n; i++) {
		CHECK(names[i] == pf_csv_colname(r, i));
		CHECK(names[i][0] != '\0');
		sorted[i] = names[i];
		tr_field(t, names[i], strlen(names[i]));
	}
	tr_put(t, "\n", 1);
	/* unique names (sorted, so this stays cheap for wide headers) */
	qsort(sorted, n, sizeof(sorted[0]), cmp_name);
	for (i = 1; i < n; i++)
		CHECK(strcmp(sorted[i - 1], sorted[i]) != 0);
	CHECK(pf_csv_colindex(r, names[0]) == 0);
	CHECK(pf_csv_colindex(r, names[n - 1]) == (long)(n - 1));
	CHECK(pf_csv_colindex(r, names[n / 2]) == (long)(n / 2));
}

/*
 * One full read of the file into t.  With rewind, a second transcript of
 * the rows after pf_csv_rewind() goes into t2.  Returns 1 if everything
 * was read without an error.
 */
static int
pass(struct tr *t, struct tr *t2)
{
	struct pf_csv *r = NULL;
	struct pf_error *err;
	int bad;

	if ((err = pf_csv_open(&r, path)) != NULL) {
		CHECK(r == NULL);
		CHECK(err->code == PF_EX_DATAERR || err->code == PF_EX_IOERR);
		tr_error(t, err);
		pf_error_free(err);
		return 0;
	}
	tr_header(t, r);
	bad = read_rows(r, t);
	if (t2 != NULL) {
		tr_header(t2, r);
		if ((err = pf_csv_rewind(r)) != NULL) {
			fprintf(stderr, "fuzz_csv: rewind: %s\n", err->msg);
			abort();
		}
		read_rows(r, t2);
	}
	pf_csv_close(r);
	return !bad;
}

NOCOV static void
oracle_field(void *s, size_t n, void *arg)
{
	tr_field(arg, s, n);
}

NOCOV static void
oracle_record(int c, void *arg)
{
	(void)c;
	tr_put(arg, "\n", 1);
}

/* Records and fields of t without line numbers and problems, in the
 * oracle's form (header first). */
static void
fields_only(struct pf_csv *r, struct tr *out)
{
	struct pf_csv_row *row;
	struct pf_error *err;
	size_t i;

	tr_header(out, r);
	for (;;) {
		if ((err = pf_csv_next(r, &row)) != NULL)
			abort();	/* pass 1 read it without error */
		if (row == NULL)
			break;
		for (i = 0; i < row->nfields; i++)
			tr_field(out, row->fields[i], row->lens[i]);
		tr_put(out, "\n", 1);
	}
}

/*
 * Compare with libcsv on the whole text: when the reader read everything
 * without error, libcsv must accept the text and give the same records
 * (rows that are too wide are cut by the reader: then no comparison).
 */
static void
against_libcsv(const uint8_t *data, size_t size)
{
	struct csv_parser p;
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	struct pf_error *err;
	struct tr want = { 0 }, got = { 0 };
	size_t used;
	int ok;

	if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		size -= 3;
	}
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
		abort();
	used = csv_parse(&p, data, size, oracle_field, oracle_record, &want);
	ok = used == size &&
	    csv_fini(&p, oracle_field, oracle_record, &want) == 0;
	if (!ok) {
		fprintf(stderr, "fuzz_csv: csvin read the file without error, "
		    "libcsv refuses it: %s\n", csv_strerror(csv_error(&p)));
		abort();
	}
	csv_free(&p);
	if ((err = pf_csv_open(&r, path)) != NULL)
		abort();
	/* rows wider than PF_CSV_MAX_COLUMNS are cut: skip those files */
	for (;;) {
		if ((err = pf_csv_next(r, &row)) != NULL)
			abort();
		if (row == NULL)
			break;
		if (row->nfields == PF_CSV_MAX_COLUMNS)
			goto done;
	}
	if ((err = pf_csv_rewind(r)) != NULL)
		abort();
	fields_only(r, &got);
	if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0)
		fail("csvin against libcsv", &got, &want);
done:
	pf_csv_close(r);
	free(want.p);
	free(got.p);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/fuzz_csv.XXXXXX";

	(void)argc;
	(void)argv;
	if ((fd = memfd_create("fuzz_csv", MFD_CLOEXEC)) == -1) {
		if ((fd = mkstemp(tmpl)) == -1) {
			perror("fuzz_csv: mkstemp");
			exit(2);
		}
		unlink(tmpl);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i, off;
	ssize_t n;
	int clean;

	if (ftruncate(fd, 0) == -1)
		abort();
	for (off = 0; off < size; off += (size_t)n) {
		n = pwrite(fd, data + off, size - off, (off_t)off);
		if (n <= 0)
			abort();
	}

	clean = pass(&t1, &t2);
	if (t2.len > 0) {
		/* the header line of t1 is in t2 too; rows must match */
		if (t2.len != t1.len || memcmp(t2.p, t1.p, t1.len) != 0)
			fail("after pf_csv_rewind", &t1, &t2);
	}

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	cut_state = h;
	cut_on = 1;
	pass(&t3, NULL);
	cut_on = 0;
	if (t3.len != t1.len || memcmp(t3.p, t1.p, t1.len) != 0)
		fail("short reads", &t1, &t3);

	if (clean)
		against_libcsv(data, size);
	free(t1.p);
	free(t2.p);
	free(t3.p);
	return 0;
}
