/*
 * csvin: RFC 4180 input on libcsv, pulled one record at a time.
 *
 * The read buffer is cut into segments: the bytes up to and including the
 * next CR or LF, or up to the end of the buffer.  Every byte of a segment
 * lies on one physical line, a record can only end on the last byte of a
 * segment (so at most one record completes per segment), and a record
 * starts on the line of the first segment that takes the parser out of
 * its between-records state.  Line breaks are LF, CRLF or a lone CR.
 *
 * A segment that is a whole line starting a record, with only simple
 * quoting, is split by split_simple(), which gives the fields libcsv would
 * give at a fraction of libcsv's cost per byte.  Everything else (quoted
 * fields with doubled quotes or line breaks, lines cut by the read buffer,
 * bad quoting) goes to libcsv, which pushes fields and record ends through
 * on_field() and on_record().  Either way the kept fields of the record go
 * into one reused buffer: no allocation per field once it has grown.
 *
 * Memory: the read buffer, libcsv's field buffer and the record buffer.
 * The file bytes of the open record are counted as they are fed, and the
 * record is refused once they pass PF_CSV_MAX_RECORD, so a 100 MiB line
 * costs about PF_CSV_MAX_RECORD plus one read buffer.  At most
 * PF_CSV_MAX_COLUMNS fields of a record are kept (row->nfields); the rest
 * are only counted, for the row's problem text.
 *
 * As libcsv does by default, spaces and tabs around unquoted fields are
 * trimmed (quote a field to keep them), and lines of blanks only are
 * skipped like empty ones.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <csv.h>

#include "csvin.h"
#include "util.h"

#define CHUNK		(64 * 1024)	/* read buffer */
#define CSV_OPTS	(CSV_STRICT | CSV_STRICT_FINI)
#define ROW_NOT_BEGUN	0		/* libcsv's pstate between records */
#define BLK_MIN		4096		/* growth step of libcsv's buffer */
#define BLK_MAX		(1024 * 1024)
#define NAME_SHOW	64		/* bytes of a column name in messages */
#define ONES		0x0101010101010101ULL

enum fprob {
	FP_OK,
	FP_LONG,			/* longer than PF_CSV_MAX_FIELD */
	FP_NUL,
	FP_CTRL,			/* C0 other than TAB/CR/LF, DEL, C1 */
	FP_UTF8,
	FP_NONCHAR,			/* U+FFFE, U+FFFF: not XML characters */
};

struct pf_csv {
	char *path;			/* malloc'd copy of the caller's path */
	int fd;				/* owned; -1 when not open */
	struct csv_parser csv;		/* libcsv state, its buffer owned */
	int csv_live;			/* csv needs csv_free() */
	char *chunk;			/* malloc'd read buffer, CHUNK bytes */
	size_t chunk_len;		/* bytes in chunk */
	size_t chunk_pos;		/* next byte of chunk to feed */
	off_t chunk_off;		/* file offset of chunk[0] */
	int eof;			/* read() returned 0 */
	int finished;			/* csv_fini() called: no more records */
	long line;			/* physical line of chunk[chunk_pos] */
	int after_cr;			/* the last byte fed was a CR */

	/* The record being assembled (or the one last handed out). */
	int in_rec;			/* its first byte has been fed */
	int rec_done;			/* on_record() has run */
	int rec_term;			/* it ended on a CR/LF (not at EOF) */
	long rec_line;			/* line of its first byte */
	size_t rec_raw;			/* file bytes fed since it began */
	size_t rec_nf;			/* fields seen; may exceed those kept */
	size_t bad_field;		/* index of the first bad field */
	enum fprob bad_kind;		/* its problem; FP_OK: none yet */
	unsigned long bad_cp;		/* offending code point, if any */
	struct pf_buf rec;		/* owned; kept field bytes, each
					 * followed by a NUL */
	size_t *offs;			/* malloc'd, PF_CSV_MAX_COLUMNS offsets
					 * into rec */
	size_t *lens;			/* malloc'd, PF_CSV_MAX_COLUMNS */
	char **fields;			/* malloc'd, PF_CSV_MAX_COLUMNS
					 * pointers into rec.data */
	struct pf_error *cb_err;	/* owned; failure inside a callback */

	/* The header. */
	size_t ncols;
	char *namebuf;			/* malloc'd, names NUL-terminated */
	char **names;			/* malloc'd, ncols pointers into
					 * namebuf */
	off_t data_off;			/* file offset just after the header */
	long data_line;			/* line at data_off */
	int data_after_cr;		/* after_cr at data_off */

	int dead;			/* a fatal error ended the file */
	struct pf_error dead_err;	/* copy of that error */
	struct pf_csv_row row;		/* handed out; points into the above */
	char problem[PF_ERRMSG_MAX];	/* text behind row.problem */
};

/*
 * Classify field p[0..n).  Returns FP_OK or the first problem found; for
 * FP_CTRL and FP_NONCHAR sets *cp to the code point.
 */
static enum fprob
field_check(const unsigned char *p, size_t n, unsigned long *cp)
{
	size_t i;
	int high = 0;

	if (n > PF_CSV_MAX_FIELD)
		return FP_LONG;
	/* Eight bytes at a time while all are in 0x20..0x7e. */
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (((w | (w + ONES * 0x01) | (w - ONES * 0x20)) &
		    ONES * 0x80) != 0)
			break;
	}
	for (; i < n; i++) {
		unsigned char c = p[i];

		if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' ||
		    c == '\r')
			continue;
		if (c >= 0x80) {
			high = 1;
			continue;
		}
		if (c == 0)
			return FP_NUL;
		*cp = c;
		return FP_CTRL;
	}
	if (!high)
		return FP_OK;
	if (!pf_utf8_valid((const char *)p, n))
		return FP_UTF8;
	/* Well-formed, so 0xc2 and 0xef below are lead bytes. */
	for (i = 0; i + 1 < n; i++) {
		if (p[i] == 0xc2 && p[i + 1] <= 0x9f) {
			*cp = p[i + 1];
			return FP_CTRL;
		}
		if (p[i] == 0xef && p[i + 1] == 0xbf && i + 2 < n &&
		    p[i + 2] >= 0xbe) {
			*cp = p[i + 2] == 0xbe ? 0xfffe : 0xffff;
			return FP_NONCHAR;
		}
	}
	return FP_OK;
}

/* A noun phrase for problem k, into buf. */
static void
fprob_text(char *buf, size_t sz, enum fprob k, unsigned long cp)
{
	switch (k) {
	case FP_LONG:
		snprintf(buf, sz, "more than %d bytes", PF_CSV_MAX_FIELD);
		break;
	case FP_NUL:
		snprintf(buf, sz, "NUL byte");
		break;
	case FP_CTRL:
		snprintf(buf, sz, "control character U+%04lX", cp);
		break;
	case FP_UTF8:
		snprintf(buf, sz, "invalid UTF-8");
		break;
	case FP_NONCHAR:
		snprintf(buf, sz, "noncharacter U+%04lX", cp);
		break;
	default:
		snprintf(buf, sz, "no problem");
		break;
	}
}

/*
 * Bytes of name s to show in a message: at most NAME_SHOW, cut on a UTF-8
 * character boundary.  *more is set when the name was cut.
 */
static int
name_show(const char *s, int *more)
{
	size_t n = strlen(s);

	*more = 0;
	if (n <= NAME_SHOW)
		return (int)n;
	*more = 1;
	n = NAME_SHOW;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

/* Field callback (libcsv and split_simple): count the field, check it,
 * keep it with a NUL after it.  An allocation failure lands in r->cb_err. */
static void
on_field(void *s, size_t len, void *arg)
{
	struct pf_csv *r = arg;
	size_t i;

	if (r->cb_err != NULL)
		return;
	i = r->rec_nf++;
	if (i >= PF_CSV_MAX_COLUMNS)
		return;		/* counted, not kept: the row is bad anyway */
	if (r->bad_kind == FP_OK) {
		r->bad_kind = field_check(s, len, &r->bad_cp);
		r->bad_field = i;
	}
	r->offs[i] = r->rec.len;
	r->lens[i] = len;
	if ((r->cb_err = pf_buf_add(&r->rec, s, len)) == NULL)
		r->cb_err = pf_buf_add(&r->rec, "", 1);
}

/* Record callback; c is the terminating CR/LF, or -1 at end of file. */
static void
on_record(int c, void *arg)
{
	struct pf_csv *r = arg;

	r->rec_done = 1;
	r->rec_term = c != -1;
}

static void
rec_reset(struct pf_csv *r)
{
	pf_buf_reset(&r->rec);
	r->in_rec = 0;
	r->rec_done = 0;
	r->rec_term = 0;
	r->rec_line = r->line;
	r->rec_raw = 0;
	r->rec_nf = 0;
	r->bad_kind = FP_OK;
	r->bad_field = 0;
	r->bad_cp = 0;
}

/* Read more bytes after chunk[chunk_len]; sets eof at end of file. */
static struct pf_error *
read_more(struct pf_csv *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->chunk + r->chunk_len, CHUNK - r->chunk_len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return pf_error_errno(PF_EX_IOERR, "%s:%ld: read error",
		    r->path, r->line);
	if (n == 0)
		r->eof = 1;
	r->chunk_len += (size_t)n;
	return NULL;
}

/* Refill the read buffer once it is all fed. */
static struct pf_error *
refill(struct pf_csv *r)
{
	r->chunk_off += (off_t)r->chunk_len;
	r->chunk_len = r->chunk_pos = 0;
	return read_more(r);
}

static struct pf_error *
too_long(struct pf_csv *r)
{
	return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: record longer than %d "
	    "bytes", r->path, r->rec_line, PF_CSV_MAX_RECORD);
}

/* The error for a csv_parse() that stopped early, at line r->line. */
static struct pf_error *
parse_error(struct pf_csv *r)
{
	char where[64] = "";

	switch (csv_error(&r->csv)) {
	case CSV_EPARSE:
		if (r->line != r->rec_line)
			snprintf(where, sizeof(where), " on line %ld",
			    r->line);
		return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: malformed "
		    "quoting%s: a quote inside an unquoted field, or text "
		    "after a closing quote", r->path, r->rec_line, where);
	case CSV_ENOMEM:
		return pf_error_nomem();
	default:
		return pf_error_fmt(PF_EX_SOFTWARE, "%s:%ld: libcsv: %s",
		    r->path, r->rec_line, csv_strerror(csv_error(&r->csv)));
	}
}

#define BLANK(c)	((c) == ' ' || (c) == '\t')

/*
 * The fast path, tried on a whole line p[0..n) (its CR or LF is p[n]) that
 * starts a record.  Fields are split exactly as libcsv would: between
 * commas, spaces and tabs trimmed around unquoted fields and outside the
 * quotes of quoted ones; a line of blanks only is no record.  Only quoted
 * fields closed on this line with no quote inside are handled: for
 * anything else (doubled quotes, a field spanning lines, a stray quote)
 * returns 0, perhaps after some on_field() calls, and the caller resets
 * the record and hands the line to libcsv, which spends several
 * nanoseconds per byte where this spends a fraction.
 */
static int
split_simple(struct pf_csv *r, const char *p, size_t n)
{
	const char *end = p + n, *q, *f, *e;

	for (f = p; f < end && BLANK(*f); f++)
		;
	if (f == end)
		return 1;		/* blank line */
	if ((q = memchr(p, '"', n)) == NULL)
		q = end;		/* the next quote at or after p */
	for (;;) {
		while (p < end && BLANK(*p))
			p++;
		if (p < end && *p == '"') {
			f = p + 1;
			if ((e = memchr(f, '"', (size_t)(end - f))) == NULL)
				return 0;
			for (p = e + 1; p < end && BLANK(*p); p++)
				;
			if (p < end && *p != ',')
				return 0;
			if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
				q = end;
		} else {
			f = p;
			if ((e = memchr(p, ',', (size_t)(end - p))) == NULL)
				e = end;
			if (q < e)
				return 0;	/* quote in an unquoted field */
			p = e;
			while (e > f && BLANK(e[-1]))
				e--;
		}
		on_field((void *)(uintptr_t)f, (size_t)(e - f), r);
		if (p == end)
			break;
		p++;			/* the comma */
	}
	on_record((unsigned char)*end, r);
	return 1;
}

/*
 * Parse the next n bytes of the read buffer (one segment: no CR or LF
 * except maybe the last byte), then account for them: record start,
 * record size, line count.
 */
static struct pf_error *
feed(struct pf_csv *r, size_t n)
{
	const char *p = r->chunk + r->chunk_pos;
	struct pf_error *err;
	size_t bs, used;
	unsigned char last;
	int fast;

	last = (unsigned char)p[n - 1];
	fast = r->csv.pstate == ROW_NOT_BEGUN &&
	    (last == '\n' || last == '\r');
	if (fast && split_simple(r, p, n - 1))
		used = n;
	else {
		if (fast)
			rec_reset(r);	/* undo what split_simple kept */
		/* libcsv grows its buffer by a fixed step: make it
		 * geometric. */
		bs = csv_get_buffer_size(&r->csv);
		csv_set_blk_size(&r->csv, bs < BLK_MIN ? BLK_MIN :
		    bs > BLK_MAX ? BLK_MAX : bs);
		used = csv_parse(&r->csv, p, n, on_field, on_record, r);
	}
	if (!r->in_rec &&
	    (r->rec_done || r->csv.pstate != ROW_NOT_BEGUN)) {
		r->in_rec = 1;
		r->rec_line = r->line;
		r->rec_raw = 0;
	}
	if (r->cb_err != NULL) {
		err = r->cb_err;
		r->cb_err = NULL;
		return err;
	}
	if (used < n)
		return parse_error(r);
	if (r->in_rec)
		r->rec_raw += n;

	if (last == '\r') {
		r->line++;
		r->after_cr = 1;
	} else {
		/* A LF alone right after a CR ends the same line. */
		if (last == '\n' && !(n == 1 && r->after_cr))
			r->line++;
		r->after_cr = 0;
	}
	r->chunk_pos += n;
	return NULL;
}

/* Length of the next segment of the read buffer (not empty). */
static size_t
segment_len(const struct pf_csv *r)
{
	const char *p = r->chunk + r->chunk_pos, *lf, *cr;
	size_t n = r->chunk_len - r->chunk_pos;

	if ((lf = memchr(p, '\n', n)) != NULL)
		n = (size_t)(lf - p) + 1;
	if ((cr = memchr(p, '\r', n)) != NULL)
		n = (size_t)(cr - p) + 1;
	return n;
}

/*
 * Feed input until a record is complete (*got = 1, r->row filled in
 * except for its problem) or the input ends (*got = 0).
 */
static struct pf_error *
advance(struct pf_csv *r, int *got)
{
	struct pf_error *err;
	size_t i, nkept, raw;

	*got = 0;
	rec_reset(r);
	while (!r->rec_done) {
		if (r->chunk_pos == r->chunk_len) {
			if (r->finished)
				return NULL;
			if (!r->eof) {
				if ((err = refill(r)) != NULL)
					return err;
				continue;
			}
			r->finished = 1;
			if (csv_fini(&r->csv, on_field, on_record, r) != 0)
				return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: "
				    "quoted field not closed at end of file",
				    r->path, r->rec_line);
			if (r->cb_err != NULL) {
				err = r->cb_err;
				r->cb_err = NULL;
				return err;
			}
			if (!r->rec_done)
				return NULL;
			break;
		}
		if ((err = feed(r, segment_len(r))) != NULL)
			return err;
		if (!r->rec_done && r->rec_raw > PF_CSV_MAX_RECORD)
			return too_long(r);
	}
	raw = r->rec_raw - (r->rec_term ? 1 : 0);
	if (raw > PF_CSV_MAX_RECORD)
		return too_long(r);

	nkept = r->rec_nf < PF_CSV_MAX_COLUMNS ? r->rec_nf :
	    PF_CSV_MAX_COLUMNS;
	for (i = 0; i < nkept; i++)
		r->fields[i] = r->rec.data + r->offs[i];
	r->row.line = r->rec_line;
	r->row.nfields = nkept;
	r->row.fields = r->fields;
	r->row.lens = r->lens;
	r->row.problem = NULL;
	*got = 1;
	return NULL;
}

/* Check the record just read as a header and keep its names. */
static struct pf_error *
take_header(struct pf_csv *r)
{
	size_t i, j, n = r->rec_nf;
	unsigned long cp = 0;
	enum fprob k;
	char what[64];
	int len, more;

	if (n > PF_CSV_MAX_COLUMNS)
		return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: %zu columns, at "
		    "most %d allowed", r->path, r->rec_line, n,
		    PF_CSV_MAX_COLUMNS);
	for (i = 0; i < n; i++) {
		if (r->lens[i] == 0)
			return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: empty "
			    "column name (column %zu)", r->path, r->rec_line,
			    i + 1);
		k = field_check((unsigned char *)r->fields[i], r->lens[i],
		    &cp);
		if (k != FP_OK) {
			fprob_text(what, sizeof(what), k, cp);
			return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: %s in "
			    "column name (column %zu)", r->path, r->rec_line,
			    what, i + 1);
		}
	}
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (r->lens[i] != r->lens[j] ||
			    memcmp(r->fields[i], r->fields[j], r->lens[i]) != 0)
				continue;
			len = name_show(r->fields[i], &more);
			return pf_error_fmt(PF_EX_DATAERR, "%s:%ld: duplicate "
			    "column name \"%.*s%s\" (columns %zu and %zu)",
			    r->path, r->rec_line, len, r->fields[i],
			    more ? "..." : "", i + 1, j + 1);
		}
	}

	if ((r->namebuf = malloc(r->rec.len)) == NULL ||
	    (r->names = calloc(n, sizeof(*r->names))) == NULL)
		return pf_error_nomem();
	memcpy(r->namebuf, r->rec.data, r->rec.len);
	for (i = 0; i < n; i++)
		r->names[i] = r->namebuf + r->offs[i];
	r->ncols = n;
	r->data_off = r->chunk_off + (off_t)r->chunk_pos;
	r->data_line = r->line;
	r->data_after_cr = r->after_cr;
	return NULL;
}

/* Look at the first bytes: skip a UTF-8 BOM, refuse UTF-16. */
static struct pf_error *
read_start(struct pf_csv *r)
{
	struct pf_error *err;
	const unsigned char *p = (unsigned char *)r->chunk;

	while (r->chunk_len < 3 && !r->eof)
		if ((err = read_more(r)) != NULL)
			return err;
	if (r->chunk_len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		r->chunk_pos = 3;
	else if (r->chunk_len >= 2 && ((p[0] == 0xff && p[1] == 0xfe) ||
	    (p[0] == 0xfe && p[1] == 0xff)))
		return pf_error_fmt(PF_EX_DATAERR, "%s:1: UTF-16 text, "
		    "expected UTF-8", r->path);
	return NULL;
}

struct pf_error *
pf_csv_open(struct pf_csv **out, const char *path)
{
	struct pf_error *err = NULL;
	struct pf_csv *r = NULL;
	struct stat st;
	int got;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return pf_error_nomem();
	r->fd = -1;
	if ((r->path = pf_strdup(path)) == NULL ||
	    (r->chunk = malloc(CHUNK)) == NULL ||
	    (r->offs = calloc(PF_CSV_MAX_COLUMNS, sizeof(*r->offs))) == NULL ||
	    (r->lens = calloc(PF_CSV_MAX_COLUMNS, sizeof(*r->lens))) == NULL ||
	    (r->fields = calloc(PF_CSV_MAX_COLUMNS,
	    sizeof(*r->fields))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		err = pf_error_errno(PF_EX_NOINPUT, "%s", path);
		goto done;
	}
	if (fstat(r->fd, &st) == -1) {
		err = pf_error_errno(PF_EX_IOERR, "%s", path);
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		err = pf_error_fmt(PF_EX_NOINPUT, "%s: is a directory", path);
		goto done;
	}
	if (csv_init(&r->csv, CSV_OPTS) != 0) {
		err = pf_error_nomem();
		goto done;
	}
	r->csv_live = 1;
	r->line = 1;
	if ((err = read_start(r)) != NULL)
		goto done;
	if ((err = advance(r, &got)) != NULL)
		goto done;
	if (!got) {
		err = pf_error_fmt(PF_EX_DATAERR, "%s: empty file, expected a "
		    "header row", path);
		goto done;
	}
	if ((err = take_header(r)) != NULL)
		goto done;
	*out = r;
	r = NULL;
done:
	pf_csv_close(r);
	return err;
}

struct pf_error *
pf_csv_next(struct pf_csv *r, struct pf_csv_row **row)
{
	struct pf_error *err;
	const char *name;
	char what[64];
	int got, len, more;

	*row = NULL;
	if (r->dead)
		return pf_error_fmt(r->dead_err.code, "%s", r->dead_err.msg);
	if ((err = advance(r, &got)) != NULL) {
		r->dead = 1;
		r->dead_err.code = err->code;
		memcpy(r->dead_err.msg, err->msg, sizeof(r->dead_err.msg));
		return err;
	}
	if (!got)
		return NULL;

	if (r->rec_nf != r->ncols) {
		snprintf(r->problem, sizeof(r->problem), "%zu field%s, "
		    "header has %zu", r->rec_nf, r->rec_nf == 1 ? "" : "s",
		    r->ncols);
		r->row.problem = r->problem;
	} else if (r->bad_kind != FP_OK) {
		name = r->names[r->bad_field];
		len = name_show(name, &more);
		fprob_text(what, sizeof(what), r->bad_kind, r->bad_cp);
		snprintf(r->problem, sizeof(r->problem), "column \"%.*s%s\": "
		    "%s", len, name, more ? "..." : "", what);
		r->row.problem = r->problem;
	}
	*row = &r->row;
	return NULL;
}

size_t
pf_csv_ncols(const struct pf_csv *r)
{
	return r->ncols;
}

const char *
pf_csv_colname(const struct pf_csv *r, size_t i)
{
	return i < r->ncols ? r->names[i] : NULL;
}

long
pf_csv_colindex(const struct pf_csv *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->ncols; i++)
		if (strcmp(r->names[i], name) == 0)
			return (long)i;
	return -1;
}

const char *const *
pf_csv_colnames(const struct pf_csv *r)
{
	return (const char *const *)r->names;
}

const char *
pf_csv_path(const struct pf_csv *r)
{
	return r->path;
}

struct pf_error *
pf_csv_rewind(struct pf_csv *r)
{
	if (lseek(r->fd, r->data_off, SEEK_SET) == -1)
		return pf_error_errno(PF_EX_IOERR, "%s: cannot rewind",
		    r->path);
	if (r->csv_live)
		csv_free(&r->csv);
	r->csv_live = 0;
	if (csv_init(&r->csv, CSV_OPTS) != 0)
		return pf_error_nomem();
	r->csv_live = 1;
	r->chunk_off = r->data_off;
	r->chunk_len = r->chunk_pos = 0;
	r->eof = r->finished = 0;
	r->line = r->data_line;
	r->after_cr = r->data_after_cr;
	r->dead = 0;
	rec_reset(r);
	return NULL;
}

void
pf_csv_close(struct pf_csv *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	if (r->csv_live)
		csv_free(&r->csv);
	pf_error_free(r->cb_err);
	pf_buf_free(&r->rec);
	free(r->names);
	free(r->namebuf);
	free(r->fields);
	free(r->lens);
	free(r->offs);
	free(r->chunk);
	free(r->path);
	free(r);
}
