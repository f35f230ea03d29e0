/*
 * Unit tests for batch/csvin.c: RFC 4180 parsing, line numbers, header
 * checks, row problems, fatal errors, bounded memory, rewind.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <csv.h>

#include "csvin.h"
#include "t.h"

static char tdir[PATH_MAX / 2];	/* mkdtemp'd; kept when a test fails */
static char tpath[PATH_MAX];	/* the file mkfile() wrote last */

/* Write len bytes to tdir/name; returns its path (static buffer). */
static const char *
mkfile(const char *name, const void *data, size_t len)
{
	FILE *f;

	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, name);
	if ((f = fopen(tpath, "wb")) == NULL) {
		perror(tpath);
		exit(2);
	}
	if (len > 0 && fwrite(data, 1, len, f) != len) {
		perror(tpath);
		exit(2);
	}
	if (fclose(f) != 0) {
		perror(tpath);
		exit(2);
	}
	return tpath;
}

/* A string literal, embedded NULs included. */
#define MKS(name, lit) mkfile((name), (lit), sizeof(lit) - 1)

/* Field i of row equals the C string s (length included). */
static int
field_is(const struct pf_csv_row *row, size_t i, const char *s)
{
	return i < row->nfields && row->lens[i] == strlen(s) &&
	    memcmp(row->fields[i], s, row->lens[i]) == 0 &&
	    row->fields[i][row->lens[i]] == '\0';
}

/* Problem text of row contains s. */
static int
problem_has(const struct pf_csv_row *row, const char *s)
{
	return row->problem != NULL && strstr(row->problem, s) != NULL;
}

static long
maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Write header, then a filler byte n times, with no final newline. */
static const char *
mkbig(const char *name, const char *head, int fill, size_t n)
{
	static char block[1 << 20];
	FILE *f;
	size_t k;

	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, name);
	if ((f = fopen(tpath, "wb")) == NULL) {
		perror(tpath);
		exit(2);
	}
	memset(block, fill, sizeof(block));
	fputs(head, f);
	while (n > 0) {
		k = n < sizeof(block) ? n : sizeof(block);
		if (fwrite(block, 1, k, f) != k) {
			perror(tpath);
			exit(2);
		}
		n -= k;
	}
	if (fclose(f) != 0) {
		perror(tpath);
		exit(2);
	}
	return tpath;
}

static void
test_plain(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	const char *path;

	path = MKS("plain.csv",
	    "email,name,template\n"
	    "ana@example.com,Ana,wifi\n"
	    "bo@example.com,Bo,vpn;wifi\n");
	T_OK(pf_csv_open(&r, path));
	T_CHECK(pf_csv_ncols(r) == 3);
	T_CHECK(strcmp(pf_csv_colname(r, 0), "email") == 0);
	T_CHECK(strcmp(pf_csv_colnames(r)[2], "template") == 0);
	T_CHECK(pf_csv_colname(r, 3) == NULL);
	T_CHECK(pf_csv_colindex(r, "name") == 1);
	T_CHECK(pf_csv_colindex(r, "Name") == -1);
	T_CHECK(strcmp(pf_csv_path(r), path) == 0);

	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2);
	T_CHECK(row->nfields == 3);
	T_CHECK(row->problem == NULL);
	T_CHECK(field_is(row, 0, "ana@example.com"));
	T_CHECK(field_is(row, 2, "wifi"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 3);
	T_CHECK(field_is(row, 2, "vpn;wifi"));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	T_OK(pf_csv_next(r, &row));	/* the end stays the end */
	T_CHECK(row == NULL);
	pf_csv_close(r);
}

static void
test_quoted(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("quoted.csv",
	    "email,note\n"
	    "\"a@x\",\"x, y \"\"q\"\"\"\n"		/* line 2 */
	    "\"b@x\",\"l1\nl2\"\n"			/* lines 3-4 */
	    "\"c@x\",\"c1\r\nc2\r\nc3\"\r\n"		/* lines 5-7 */
	    "d@x,\"\"\n"				/* line 8 */
	    "\"e\nmail\",z\n")));			/* lines 9-10 */
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2 && row->problem == NULL);
	T_CHECK(field_is(row, 0, "a@x"));
	T_CHECK(field_is(row, 1, "x, y \"q\""));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 3 && row->problem == NULL);
	T_CHECK(field_is(row, 1, "l1\nl2"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 5 && row->problem == NULL);
	T_CHECK(field_is(row, 1, "c1\r\nc2\r\nc3"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 8 && row->problem == NULL);
	T_CHECK(field_is(row, 1, ""));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 9);	/* first field spans lines 9-10 */
	T_CHECK(field_is(row, 0, "e\nmail"));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);
}

static void
test_crlf_and_cr(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("crlf.csv", "a,b\r\n1,2\r\n\r\n3,4\r\n")));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2 && field_is(row, 1, "2"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 4 && field_is(row, 0, "3") &&
	    field_is(row, 1, "4"));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);

	/* Old Mac line ends: a lone CR ends a line too. */
	T_OK(pf_csv_open(&r, MKS("cr.csv", "a,b\r1,2\r\r3,4\r")));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 4 && field_is(row, 1, "4"));
	pf_csv_close(r);
}

static void
test_bom(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("bom.csv",
	    "\xef\xbb\xbf" "email,name\r\nana@x,Ana\r\n")));
	T_CHECK(strcmp(pf_csv_colname(r, 0), "email") == 0);
	T_CHECK(pf_csv_colindex(r, "email") == 0);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2 && row->problem == NULL);
	pf_csv_close(r);

	/* A BOM alone is an empty file. */
	T_ERR(pf_csv_open(&r, MKS("bomonly.csv", "\xef\xbb\xbf")),
	    PF_EX_DATAERR, "bomonly.csv: empty file, expected a header row");
	T_ERR(pf_csv_open(&r, MKS("utf16.csv", "\xff\xfe" "e\0m\0")),
	    PF_EX_DATAERR, "utf16.csv:1: UTF-16 text, expected UTF-8");
}

static void
test_no_final_newline(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("nonl.csv", "a,b\n1,\"2\"")));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2 && row->problem == NULL);
	T_CHECK(field_is(row, 0, "1") && field_is(row, 1, "2"));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);

	/* Header only, no newline: no rows. */
	T_OK(pf_csv_open(&r, MKS("hdronly.csv", "a,b")));
	T_CHECK(pf_csv_ncols(r) == 2);
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	T_OK(pf_csv_rewind(r));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);
}

static void
test_blank_lines(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("blank.csv",
	    "\n\r\n   \na,b\n\n1,2\n\r\n  \n\n3,4\n\n\n")));
	T_CHECK(pf_csv_ncols(r) == 2);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 6);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 10 && field_is(row, 0, "3"));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);

	/* The header's own line is reported when blank lines precede it. */
	T_ERR(pf_csv_open(&r, MKS("blankdup.csv", "\n\nx,x\n")),
	    PF_EX_DATAERR, "blankdup.csv:3: duplicate column name \"x\"");
	T_ERR(pf_csv_open(&r, MKS("blankonly.csv", "\n\r\n \n")),
	    PF_EX_DATAERR, "blankonly.csv: empty file, expected a header row");
}

static void
test_spaces(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	/* Unquoted fields lose surrounding blanks; quoted ones keep them. */
	T_OK(pf_csv_open(&r, MKS("spaces.csv",
	    "email , name\n  a@x ,\" Ana \"\n")));
	T_CHECK(pf_csv_colindex(r, "email") == 0);
	T_CHECK(pf_csv_colindex(r, "name") == 1);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(field_is(row, 0, "a@x") && field_is(row, 1, " Ana "));
	pf_csv_close(r);
}

static void
test_unicode(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("uni.csv",
	    "email,nom,ville\n"
	    "jose@x,Jos\xc3\xa9 M\xc3\xbcller,\xe6\x9d\xb1\xe4\xba\xac\n"
	    "z@x,\xf0\x9f\x98\x80 <&>,\"tab\there\"\n")));
	T_CHECK(pf_csv_colindex(r, "nom") == 1);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->problem == NULL);
	T_CHECK(field_is(row, 1, "Jos\xc3\xa9 M\xc3\xbcller"));
	T_CHECK(field_is(row, 2, "\xe6\x9d\xb1\xe4\xba\xac"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->problem == NULL);
	T_CHECK(field_is(row, 1, "\xf0\x9f\x98\x80 <&>"));
	T_CHECK(field_is(row, 2, "tab\there"));
	pf_csv_close(r);

	/* Accented column names work too. */
	T_OK(pf_csv_open(&r, MKS("uniname.csv", "e\xcc\x81,\xe5\x90\x8d\n1,2\n")));
	T_CHECK(pf_csv_colindex(r, "\xe5\x90\x8d") == 1);
	pf_csv_close(r);
}

static void
test_header_errors(void)
{
	struct pf_csv *r = NULL;

	T_ERR(pf_csv_open(&r, MKS("users.csv",
	    "email,name,email\nx,y,z\n")),
	    PF_EX_DATAERR, "users.csv:1: duplicate column name \"email\"");
	T_CHECK(r == NULL);
	T_ERR(pf_csv_open(&r, MKS("empty1.csv", "a,,b\n")),
	    PF_EX_DATAERR, "empty1.csv:1: empty column name (column 2)");
	T_ERR(pf_csv_open(&r, MKS("empty2.csv", "a,b,\"\"\n")),
	    PF_EX_DATAERR, "empty2.csv:1: empty column name (column 3)");
	T_ERR(pf_csv_open(&r, MKS("empty3.csv", "a,b,\n")),
	    PF_EX_DATAERR, "empty3.csv:1: empty column name (column 3)");
	T_ERR(pf_csv_open(&r, MKS("hutf8.csv", "a,b\xc3\n")),
	    PF_EX_DATAERR, "hutf8.csv:1: invalid UTF-8 in column name "
	    "(column 2)");
	T_ERR(pf_csv_open(&r, MKS("hnul.csv", "a\0b,c\n")),
	    PF_EX_DATAERR, "hnul.csv:1: NUL byte in column name (column 1)");
	T_ERR(pf_csv_open(&r, MKS("hctl.csv", "a,\"b\x1b\"\n")),
	    PF_EX_DATAERR, "hctl.csv:1: control character U+001B in column "
	    "name (column 2)");
	/* Names compare as bytes: these differ. */
	T_OK(pf_csv_open(&r, MKS("case.csv", "Email,email,\"email \"\n")));
	T_CHECK(pf_csv_ncols(r) == 3);
	pf_csv_close(r);
}

static void
test_missing_and_empty(void)
{
	struct pf_csv *r = NULL;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nope.csv", tdir);
	T_ERR(pf_csv_open(&r, path), PF_EX_NOINPUT,
	    "nope.csv: No such file or directory");
	T_CHECK(r == NULL);
	T_ERR(pf_csv_open(&r, tdir), PF_EX_NOINPUT, "is a directory");
	T_ERR(pf_csv_open(&r, MKS("users.csv", "")), PF_EX_DATAERR,
	    "users.csv: empty file, expected a header row");
}

static void
test_field_count(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("count.csv",
	    "a,b\n1\n1,2,3\n1,2\n,\n")));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2 && row->nfields == 1);
	T_CHECK(problem_has(row, "1 field, header has 2"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 3 && row->nfields == 3);
	T_CHECK(problem_has(row, "3 fields, header has 2"));
	T_CHECK(field_is(row, 2, "3"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 4 && row->problem == NULL);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 5 && row->problem == NULL);
	T_CHECK(field_is(row, 0, "") && field_is(row, 1, ""));
	pf_csv_close(r);
}

static void
test_nul(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("nul.csv", "a,name\n1,x\0y\n2,ok\n")));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2);
	T_CHECK(problem_has(row, "column \"name\": NUL byte"));
	T_CHECK(row->lens[1] == 3);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 3 && row->problem == NULL);
	pf_csv_close(r);
}

static void
test_bad_utf8(void)
{
	static const char *bad[] = {
		"\xc0\xaf",		/* overlong '/' */
		"\xe0\x80\xaf",		/* overlong, 3 bytes */
		"ab\x80",		/* lone continuation */
		"\xed\xa0\x80",		/* surrogate U+D800 */
		"\xf4\x90\x80\x80",	/* above U+10FFFF */
		"caf\xe9",		/* Latin-1 */
		"\xe6\x9d",		/* cut short */
		"\xff",
	};
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	char data[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(data, sizeof(data), "a,name\n1,\"%s\"\n2,ok\n",
		    bad[i]);
		T_OK(pf_csv_open(&r, mkfile("utf8.csv", data, strlen(data))));
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		T_CHECK(row->line == 2);
		if (!problem_has(row, "column \"name\": invalid UTF-8")) {
			fprintf(stderr, "case %zu: %s\n", i,
			    row->problem ? row->problem : "(no problem)");
			t_fail = 1;
		}
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		T_CHECK(row->problem == NULL);
		pf_csv_close(r);
		r = NULL;
	}
}

static void
test_control(void)
{
	static const struct {
		const char *data;
		const char *want;	/* NULL: no problem */
	} cases[] = {
		{ "a,b\n1,x\x07y\n", "column \"b\": control character U+0007" },
		{ "a,b\n\x01,y\n", "column \"a\": control character U+0001" },
		{ "a,b\n1,\"x\x0b\"\n", "control character U+000B" },
		{ "a,b\n1,x\x7fy\n", "control character U+007F" },
		{ "a,b\n1,x\xc2\x85y\n", "control character U+0085" },
		{ "a,b\n1,x\xef\xbf\xbe\n", "column \"b\": noncharacter U+FFFE" },
		{ "a,b\n1,x\xef\xbf\xbf\n", "noncharacter U+FFFF" },
		{ "a,b\n1,\"x\ty\r\nz\"\n", NULL },
		{ "a,b\n1,\xef\xbf\xbd\xc2\xa0\n", NULL },	/* U+FFFD, NBSP */
	};
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_OK(pf_csv_open(&r, mkfile("ctl.csv", cases[i].data,
		    strlen(cases[i].data))));
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		if (cases[i].want == NULL ? row->problem != NULL :
		    !problem_has(row, cases[i].want)) {
			fprintf(stderr, "case %zu: got %s\n", i,
			    row->problem ? row->problem : "(no problem)");
			t_fail = 1;
		}
		pf_csv_close(r);
		r = NULL;
	}
}

static void
test_long_field(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	char *data;
	size_t n = 0, big = 3 * 1024 * 1024;

	/* One field just at the limit, one just over, one of 3 MiB. */
	if ((data = malloc(big + 2 * PF_CSV_MAX_FIELD + 1024)) == NULL)
		abort();
	n += (size_t)sprintf(data + n, "a,b\n1,");
	memset(data + n, 'x', PF_CSV_MAX_FIELD);
	n += PF_CSV_MAX_FIELD;
	n += (size_t)sprintf(data + n, "\n2,\"");
	memset(data + n, 'y', PF_CSV_MAX_FIELD + 1);
	n += PF_CSV_MAX_FIELD + 1;
	n += (size_t)sprintf(data + n, "\"\n3,");
	memset(data + n, 'z', big);
	n += big;
	n += (size_t)sprintf(data + n, "\n4,ok\n");
	T_OK(pf_csv_open(&r, mkfile("long.csv", data, n)));
	free(data);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2 && row->problem == NULL);
	T_CHECK(row->lens[1] == PF_CSV_MAX_FIELD);
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 3);
	T_CHECK(problem_has(row, "column \"b\": more than 65536 bytes"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 4 && row->lens[1] == big);
	T_CHECK(problem_has(row, "more than 65536 bytes"));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 5 && row->problem == NULL);
	pf_csv_close(r);
}

/* Run first, while the RSS high-water mark is still low. */
static void
test_huge_record(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	const char *path;
	long before, grown;

	/* 100 MiB on one line, no newline: stops early, memory stays low. */
	path = mkbig("huge.csv", "a,b\n1,ok\n2,", 'x', (size_t)100 << 20);
	before = maxrss_kib();
	T_OK(pf_csv_open(&r, path));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR,
	    "huge.csv:3: record longer than 4194304 bytes");
	T_CHECK(row == NULL);
	/* The error sticks. */
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR, "huge.csv:3: record");
	pf_csv_close(r);
	r = NULL;
	grown = maxrss_kib() - before;
	if (grown > 32 * 1024) {
		fprintf(stderr, "RSS grew by %ld KiB\n", grown);
		t_fail = 1;
	}
	unlink(path);

	/* Many short fields, and a quoted field full of newlines: the
	 * record's first line is named. */
	path = mkbig("huge2.csv", "a,b\n1,2\n\"", '\n', 5 << 20);
	T_OK(pf_csv_open(&r, path));
	T_OK(pf_csv_next(r, &row));
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR,
	    "huge2.csv:3: record longer than");
	pf_csv_close(r);
	r = NULL;
	path = mkbig("huge3.csv", "a,b\n", ',', 5 << 20);
	T_OK(pf_csv_open(&r, path));
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR,
	    "huge3.csv:2: record longer than");
	pf_csv_close(r);
	r = NULL;
	unlink(path);

	/* A header that is too long fails the open. */
	path = mkbig("huge4.csv", "a,", 'h', 5 << 20);
	T_ERR(pf_csv_open(&r, path), PF_EX_DATAERR,
	    "huge4.csv:1: record longer than");
	unlink(path);
}

static void
test_many_fields(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	const char *path;

	/* 2 million fields in a record: counted, not all kept. */
	path = mkbig("wide.csv", "a,b\n", ',', 2000000);
	T_OK(pf_csv_open(&r, path));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->nfields == PF_CSV_MAX_COLUMNS);
	T_CHECK(problem_has(row, "2000001 fields, header has 2"));
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);
	unlink(path);
}

static void
test_open_quote(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("open.csv",
	    "a,b\n1,2\n3,\"never\nclosed\n4,5\n")));
	T_OK(pf_csv_next(r, &row));
	T_REQUIRE(row != NULL);
	T_CHECK(row->line == 2);
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR,
	    "open.csv:3: quoted field not closed at end of file");
	T_CHECK(row == NULL);
	pf_csv_close(r);

	T_ERR(pf_csv_open(&r, MKS("openhdr.csv", "a,\"b\n")),
	    PF_EX_DATAERR, "openhdr.csv:1: quoted field not closed");
}

static void
test_bad_quoting(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;

	T_OK(pf_csv_open(&r, MKS("q1.csv", "a,b\n1,x\"y\n")));
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR,
	    "q1.csv:2: malformed quoting");
	pf_csv_close(r);
	T_OK(pf_csv_open(&r, MKS("q2.csv", "a,b\n1,\"x\nyy\"z\n")));
	T_ERR(pf_csv_next(r, &row), PF_EX_DATAERR,
	    "q2.csv:2: malformed quoting on line 3");
	pf_csv_close(r);
	T_ERR(pf_csv_open(&r, MKS("q3.csv", "a,\"b\"c\n")),
	    PF_EX_DATAERR, "q3.csv:1: malformed quoting");
}

static void
test_rewind(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	long lines[8];
	size_t n = 0, i;

	T_OK(pf_csv_open(&r, MKS("rew.csv",
	    "\xef\xbb\xbf\na,b\r\n1,\"x\r\ny\"\r\n\r\n2,z\r\n3,w")));
	while (n < 8) {
		T_OK(pf_csv_next(r, &row));
		if (row == NULL)
			break;
		lines[n++] = row->line;
	}
	T_REQUIRE(n == 3);
	T_CHECK(lines[0] == 3 && lines[1] == 6 && lines[2] == 7);
	for (i = 0; i < 2; i++) {
		T_OK(pf_csv_rewind(r));
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		T_CHECK(row->line == 3 && field_is(row, 1, "x\r\ny"));
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		T_CHECK(row->line == 6 && field_is(row, 1, "z"));
		if (i == 1)
			continue;	/* rewind in the middle */
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		T_CHECK(row->line == 7 && field_is(row, 1, "w"));
		T_OK(pf_csv_next(r, &row));
		T_CHECK(row == NULL);
	}
	pf_csv_close(r);
}

static void
test_wide_header(void)
{
	struct pf_csv *r = NULL;
	char *data;
	size_t n = 0, i;

	if ((data = malloc(10000 * 8)) == NULL)
		abort();
	for (i = 0; i < 10000; i++)
		n += (size_t)sprintf(data + n, "%sc%zu", i ? "," : "", i);
	data[n++] = '\n';
	T_ERR(pf_csv_open(&r, mkfile("wide.csv", data, n)), PF_EX_DATAERR,
	    "wide.csv:1: 10000 columns, at most 1024 allowed");

	/* Exactly the maximum is fine. */
	n = 0;
	for (i = 0; i < PF_CSV_MAX_COLUMNS; i++)
		n += (size_t)sprintf(data + n, "%sc%zu", i ? "," : "", i);
	data[n++] = '\n';
	T_OK(pf_csv_open(&r, mkfile("wide.csv", data, n)));
	free(data);
	T_CHECK(pf_csv_ncols(r) == PF_CSV_MAX_COLUMNS);
	T_CHECK(pf_csv_colindex(r, "c1023") == 1023);
	pf_csv_close(r);
}

/* Many records across read-buffer boundaries, LF and CRLF mixed. */
static void
test_chunk_boundaries(void)
{
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	char *data, want[64];
	size_t n = 0, i, rows = 30000;
	long line = 2;

	if ((data = malloc(rows * 64)) == NULL)
		abort();
	n += (size_t)sprintf(data + n, "id,v\r\n");
	for (i = 0; i < rows; i++) {
		if (i % 3 == 0)
			n += (size_t)sprintf(data + n, "%zu,\"q%zu\r\nx\"\r\n",
			    i, i);
		else if (i % 3 == 1)
			n += (size_t)sprintf(data + n, "%zu,v%zu\n", i, i);
		else
			n += (size_t)sprintf(data + n, "\"%zu\",\"a\nb,\"\"c"
			    "\"\"\"\r\n", i);
	}
	T_OK(pf_csv_open(&r, mkfile("chunks.csv", data, n)));
	free(data);
	for (i = 0; i < rows; i++) {
		T_OK(pf_csv_next(r, &row));
		T_REQUIRE(row != NULL);
		snprintf(want, sizeof(want), "%zu", i);
		if (row->line != line || row->problem != NULL ||
		    !field_is(row, 0, want)) {
			fprintf(stderr, "row %zu: line %ld, want %ld; %s\n",
			    i, row->line, line, row->fields[0]);
			t_fail = 1;
			break;
		}
		if (i % 3 == 0)
			snprintf(want, sizeof(want), "q%zu\r\nx", i);
		else if (i % 3 == 1)
			snprintf(want, sizeof(want), "v%zu", i);
		else
			snprintf(want, sizeof(want), "a\nb,\"c\"");
		if (!field_is(row, 1, want)) {
			fprintf(stderr, "row %zu: field %s\n", i,
			    row->fields[1]);
			t_fail = 1;
			break;
		}
		line += i % 3 == 1 ? 1 : 2;
	}
	T_OK(pf_csv_next(r, &row));
	T_CHECK(row == NULL);
	pf_csv_close(r);
}

/* Generated text with its line count, for test_against_libcsv. */
struct gen {
	char *buf;		/* malloc'd */
	size_t len, cap;
	long line;		/* line of the next byte */
	int after_cr;
};

static void
emit(struct gen *g, const char *s, size_t n)
{
	size_t i;

	if (g->len + n > g->cap) {
		g->cap = (g->len + n) * 2;
		if ((g->buf = realloc(g->buf, g->cap)) == NULL)
			abort();
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '\r')
			g->line++;
		else if (s[i] == '\n' && !g->after_cr)
			g->line++;
		g->after_cr = s[i] == '\r';
	}
	memcpy(g->buf + g->len, s, n);
	g->len += n;
}

/* What libcsv makes of the whole text at once: each record as
 * "len:bytes" per field, one record after another. */
struct oracle {
	char *out;		/* malloc'd */
	size_t len, cap;
};

static void
oracle_put(struct oracle *o, const void *s, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		if ((o->out = realloc(o->out, o->cap)) == NULL)
			abort();
	}
	memcpy(o->out + o->len, s, n);
	o->len += n;
}

static void
oracle_field(void *s, size_t n, void *arg)
{
	char num[32];

	snprintf(num, sizeof(num), "%zu:", n);
	oracle_put(arg, num, strlen(num));
	oracle_put(arg, s, n);
}

static void
oracle_record(int c, void *arg)
{
	(void)c;
	oracle_put(arg, "\n", 1);
}

/*
 * Random files mixing quote-free lines (split by csvin itself) and quoted
 * ones (fed to libcsv), blank lines, CR, LF and CRLF, spaces and tabs
 * around fields, across many read buffers: csvin must give the records
 * libcsv gives for the whole text, with the right start lines.
 */
static void
against_libcsv(unsigned int seed)
{
	static const char *bits[] = {
		"a", "b", " ", "\t", "x y", "\xc3\xa9", "\0", ";", "=1",
	};
	static const char *qbits[] = {
		"a", ",", "\"\"", "\n", "\r\n", " ", "\t", "\xe6\x9d\xb1",
	};
	static const char *ends[] = { "\n", "\r\n", "\r" };
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	struct csv_parser p;
	struct gen g = { NULL, 0, 0, 1, 0 };
	struct oracle want = { NULL, 0, 0 }, got = { NULL, 0, 0 };
	long *lines = NULL;
	size_t nrec = 20000, i, j, k, nf, nlines = 0;

	if ((lines = calloc(nrec, sizeof(*lines))) == NULL)
		abort();
	emit(&g, "h1,h2,h3\n", 9);
	for (i = 0; i < nrec; i++) {
		const char *end = ends[rand_r(&seed) % 3];

		while (rand_r(&seed) % 8 == 0) {	/* blank lines */
			if (rand_r(&seed) % 2)
				emit(&g, "  \t", 3);
			emit(&g, end, strlen(end));
		}
		/* A LF after a lone CR would merge the two: avoid. */
		if (g.after_cr && end[0] == '\n')
			end = "\r";
		lines[nlines++] = g.line;
		nf = rand_r(&seed) % 16 == 0 ? 1 + rand_r(&seed) % 5 : 3;
		for (j = 0; j < nf; j++) {
			if (j > 0)
				emit(&g, ",", 1);
			if (rand_r(&seed) % 4 == 0)
				emit(&g, " ", 1);
			if (nf > 1 && rand_r(&seed) % 5 == 0) {
				emit(&g, "\"", 1);
				for (k = rand_r(&seed) % 6; k > 0; k--) {
					const char *b =
					    qbits[rand_r(&seed) % 8];

					emit(&g, b, strlen(b));
				}
				emit(&g, "\"", 1);
			} else {
				/* One field of blanks only would make a
				 * blank line. */
				if (nf == 1)
					emit(&g, "z", 1);
				for (k = rand_r(&seed) % 6; k > 0; k--) {
					size_t b = rand_r(&seed) % 9;

					emit(&g, bits[b], b == 6 ? 1 :
					    strlen(bits[b]));
				}
			}
			if (rand_r(&seed) % 4 == 0)
				emit(&g, "\t ", 2);
		}
		emit(&g, end, strlen(end));
	}

	csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
	T_CHECK(csv_parse(&p, g.buf, g.len, oracle_field, oracle_record,
	    &want) == g.len);
	T_CHECK(csv_fini(&p, oracle_field, oracle_record, &want) == 0);
	csv_free(&p);

	T_OK(pf_csv_open(&r, mkfile("random.csv", g.buf, g.len)));
	free(g.buf);
	oracle_field("h1", 2, &got);
	oracle_field("h2", 2, &got);
	oracle_field("h3", 2, &got);
	oracle_record(0, &got);
	for (i = 0;; i++) {
		T_OK(pf_csv_next(r, &row));
		if (row == NULL)
			break;
		if (i < nlines && row->line != lines[i]) {
			fprintf(stderr, "record %zu: line %ld, want %ld\n",
			    i, row->line, lines[i]);
			t_fail = 1;
		}
		for (j = 0; j < row->nfields; j++)
			oracle_field(row->fields[j], row->lens[j], &got);
		oracle_record(0, &got);
	}
	T_CHECK(i == nrec);
	T_CHECK(got.len == want.len &&
	    memcmp(got.out, want.out, got.len) == 0);
	if (got.len != want.len || memcmp(got.out, want.out, got.len) != 0) {
		for (i = 0; i < got.len && i < want.len &&
		    got.out[i] == want.out[i]; i++)
			;
		fprintf(stderr, "differs at byte %zu: got \"%.40s\", "
		    "want \"%.40s\"\n", i, got.out + i, want.out + i);
	}
	pf_csv_close(r);
	free(got.out);
	free(want.out);
	free(lines);
}

static void
test_against_libcsv(void)
{
	unsigned int seed;

	for (seed = 1; seed <= 4 && !t_fail; seed++)
		against_libcsv(seed);
}

/*
 * Byte soup: never a crash; every error names the file; line numbers
 * never go down; every returned row is either clean or has a problem.
 */
static void
test_random_bytes(void)
{
	static const char alpha[] = "a,\"\r\n \t\0\x80\xc3\xa9\xef\xbf\xbe\x07";
	struct pf_csv *r = NULL;
	struct pf_csv_row *row;
	struct pf_error *err;
	char buf[4096];
	const char *path;
	size_t iter, i, n, plen;
	unsigned int seed = 7;
	long last;

	for (iter = 0; iter < 3000; iter++) {
		n = (size_t)rand_r(&seed) % (iter < 2900 ? 64 : sizeof(buf));
		for (i = 0; i < n; i++)
			buf[i] = rand_r(&seed) % 4 == 0 ?
			    (char)rand_r(&seed) :
			    alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		path = mkfile("soup.csv", buf, n);
		plen = strlen(path);
		if ((err = pf_csv_open(&r, path)) != NULL) {
			T_CHECK(strncmp(err->msg, path, plen) == 0);
			T_CHECK(err->code == PF_EX_DATAERR);
			pf_error_free(err);
			continue;
		}
		last = 0;
		for (;;) {
			if ((err = pf_csv_next(r, &row)) != NULL) {
				T_CHECK(strncmp(err->msg, path, plen) == 0);
				T_CHECK(err->code == PF_EX_DATAERR);
				pf_error_free(err);
				break;
			}
			if (row == NULL)
				break;
			T_CHECK(row->line > last);
			last = row->line;
			T_CHECK(row->nfields == pf_csv_ncols(r) ||
			    row->problem != NULL);
			for (i = 0; i < row->nfields; i++)
				T_CHECK(row->fields[i][row->lens[i]] == '\0');
		}
		pf_csv_close(r);
		r = NULL;
		if (t_fail) {
			fprintf(stderr, "iteration %zu\n", iter);
			return;
		}
	}
}

/* pf_csv_close(NULL) is a no-op. */
static void
test_close_null(void)
{
	pf_csv_close(NULL);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(tdir, sizeof(tdir), "%s/test_csvin.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tdir) == NULL) {
		perror(tdir);
		return 2;
	}
	T_RUN(test_huge_record);
	T_RUN(test_plain);
	T_RUN(test_quoted);
	T_RUN(test_crlf_and_cr);
	T_RUN(test_bom);
	T_RUN(test_no_final_newline);
	T_RUN(test_blank_lines);
	T_RUN(test_spaces);
	T_RUN(test_unicode);
	T_RUN(test_header_errors);
	T_RUN(test_missing_and_empty);
	T_RUN(test_field_count);
	T_RUN(test_nul);
	T_RUN(test_bad_utf8);
	T_RUN(test_control);
	T_RUN(test_long_field);
	T_RUN(test_many_fields);
	T_RUN(test_open_quote);
	T_RUN(test_bad_quoting);
	T_RUN(test_rewind);
	T_RUN(test_wide_header);
	T_RUN(test_chunk_boundaries);
	T_RUN(test_against_libcsv);
	T_RUN(test_random_bytes);
	T_RUN(test_close_null);
	if (t_nfail == 0) {
		t_rm_rf(tdir);
	} else
		fprintf(stderr, "test files kept in %s\n", tdir);
	T_DONE();
}
