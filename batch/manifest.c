#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "util.h"

#define CSV_TMP		PF_TMP_PREFIX "manifest.csv"
#define JSON_TMP	PF_TMP_PREFIX "manifest.json"
#define HTML_TMP	PF_TMP_PREFIX "index.html"
#define STDIO_BUF	(64 * 1024)	/* per file: fewer, larger writes */
/* Written bytes (all three files) after which their write-back is started,
 * so that the sync at the end has little left to wait for. */
#define KICK_BYTES	(4 * 1024 * 1024)

struct pf_manifest {
	struct pf_outdir *od;	/* borrowed */
	FILE *csv;		/* owned, CSV_TMP in the run directory */
	FILE *json;		/* owned, JSON_TMP */
	FILE *html;		/* owned, HTML_TMP */
	struct pf_buf buf;	/* scratch for JSON rows */
	struct pf_buf hbuf;	/* scratch for HTML rows */
	struct pf_buf clean;	/* scratch for one cleaned cell */
	int nrows;
	size_t unkicked;	/* bytes written since the last kick() */
	off_t kicked[3];	/* CSV, JSON, HTML: bytes handed over at the
				 * last kick() */
	off_t dropped[3];	/* bytes dropped from the page cache */
	time_t exp_t;		/* the last expiry written, as text */
	char exp[32];
};

/* ", \"name\": " then a number or null. */
static struct pf_error *
json_num(struct pf_buf *b, const char *name, const char *num)
{
	struct pf_error *err;

	if ((err = pf_buf_add(b, ", \"", 3)) != NULL ||
	    (err = pf_buf_addstr(b, name)) != NULL ||
	    (err = pf_buf_add(b, "\": ", 3)) != NULL)
		return err;
	return pf_buf_addstr(b, num != NULL ? num : "null");
}

/* v in decimal into buf, as "%lld" would. */
static void
fmt_num(char buf[32], long long v)
{
	char tmp[32];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;
	size_t n = 0, o = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		buf[o++] = '-';
	while (n > 0)
		buf[o++] = tmp[--n];
	buf[o] = '\0';
}

static const char *const columns[] = { "line", "user", "template",
    "template_version", "status", "file", "sha256", "bytes",
    "payload_identifier", "challenge_id", "challenge_expires", "error" };

/*
 * s as text every reader can take: invalid UTF-8 becomes U+FFFD, and for
 * the CSV (which people cat and open in spreadsheets) so does every control
 * character but tab, CR and LF.  Returns s itself when nothing changes,
 * else b's data.
 */
static const char *
clean_text(struct pf_buf *b, const char *s, int csv)
{
	static const char repl[] = "\xef\xbf\xbd";
	size_t i, n, len;
	int ctl = 0;

	if (s == NULL)
		return NULL;
	/* Printable ASCII, by far the most common, needs nothing. */
	for (n = 0; (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f;
	    n++)
		;
	if (s[n] == '\0')
		return s;
	n += strlen(s + n);
	for (i = 0; csv && i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
		    c == 0x7f)
			ctl = 1;
	}
	if (!ctl && pf_utf8_valid(s, n))
		return s;
	pf_buf_reset(b);
	for (i = 0; i < n; i += len) {
		unsigned char c = (unsigned char)s[i];
		const char *add = s + i;
		size_t addlen;

		len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (len > n - i || !pf_utf8_valid(s + i, len) ||
		    (csv && len == 1 && ((c < 0x20 && c != '\t' &&
		    c != '\r' && c != '\n') || c == 0x7f))) {
			if (len > n - i || !pf_utf8_valid(s + i, len))
				len = 1;
			add = repl;
		}
		addlen = add == repl ? sizeof(repl) - 1 : len;
		if (pf_buf_add(b, add, addlen) != NULL)
			return "";
	}
	return b->data ? b->data : "";
}

static FILE *
open_tmp(struct pf_outdir *od, const char *name)
{
	FILE *fp;
	int fd;

	unlinkat(od->runfd, name, 0);
	fd = openat(od->runfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		return NULL;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		return NULL;
	}
	setvbuf(fp, NULL, _IOFBF, STDIO_BUF);
	return fp;
}

/*
 * Hand what the three files hold so far to the kernel and start writing it
 * back, without waiting: the run goes on meanwhile, and the fsync at the
 * end waits for the rest only.  What the previous kick handed over has
 * been written back by now, mostly, and nothing reads it again in this
 * run: its pages leave the page cache, so that the next pages the run
 * needs are these, not memory new to the machine (100 000 rows make
 * about 110 MB of manifests; a page never used before costs a virtual
 * machine many times more).  -1 on a write error.
 */
static int
kick(struct pf_manifest *m)
{
	FILE *fps[3] = { m->csv, m->json, m->html };
	off_t end;
	size_t i;
	int fd;

	m->unkicked = 0;
	for (i = 0; i < 3; i++) {
		if (fflush(fps[i]) == EOF)
			return -1;
		fd = fileno(fps[i]);
		/* only hints: an error here shows again at the fsync */
		if (m->kicked[i] > m->dropped[i]) {
			(void)posix_fadvise(fd, m->dropped[i], m->kicked[i] -
			    m->dropped[i], POSIX_FADV_DONTNEED);
			m->dropped[i] = m->kicked[i];
		}
		(void)sync_file_range(fd, m->kicked[i], 0,
		    SYNC_FILE_RANGE_WRITE);
		if ((end = ftello(fps[i])) != -1)
			m->kicked[i] = end;
	}
	return 0;
}

/* Add s as one CSV cell: quoted when needed, a leading = + - @ TAB CR
 * neutralised with a leading apostrophe. */
static struct pf_error *
csv_cell(struct pf_buf *b, const char *s)
{
	struct pf_error *err;
	size_t n;

	if (s == NULL || s[0] == '\0')
		return NULL;
	n = strcspn(s, ",\"\r\n");
	if (s[n] == '\0' && strchr("=+-@\t", s[0]) == NULL)
		return pf_buf_add(b, s, n);	/* plain */
	if ((err = pf_buf_add(b, "\"", 1)) != NULL ||
	    (strchr("=+-@\t\r", s[0]) != NULL &&
	    (err = pf_buf_add(b, "'", 1)) != NULL))
		return err;
	while (*s != '\0') {
		n = strcspn(s, "\"");
		if ((err = pf_buf_add(b, s, n)) != NULL)
			return err;
		s += n;
		if (*s == '"') {
			if ((err = pf_buf_add(b, "\"\"", 2)) != NULL)
				return err;
			s++;
		}
	}
	return pf_buf_add(b, "\"", 1);
}

/* s as HTML text: cleaned as for the CSV, then & < > " ' escaped. */
static struct pf_error *
html_text(struct pf_buf *b, struct pf_buf *scratch, const char *s)
{
	struct pf_error *err;
	const char *ent;
	size_t n;

	if (s == NULL)
		return NULL;
	for (s = clean_text(scratch, s, 1); ; s += n + 1) {
		n = strcspn(s, "&<>\"'");
		if ((err = pf_buf_add(b, s, n)) != NULL || s[n] == '\0')
			return err;
		switch (s[n]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		default: ent = "&#39;"; break;
		}
		if ((err = pf_buf_addstr(b, ent)) != NULL)
			return err;
	}
}

/* A relative path as a URL path: every byte of a segment but the
 * unreserved ones (RFC 3986) percent-encoded, '/' kept between them. */
static struct pf_error *
html_href(struct pf_buf *b, const char *path)
{
	static const char keep[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~/";
	static const char hex[] = "0123456789ABCDEF";
	struct pf_error *err;
	unsigned char c;
	char enc[3];
	size_t n;

	for (; ; path += n + 1) {
		n = strspn(path, keep);
		if ((err = pf_buf_add(b, path, n)) != NULL ||
		    path[n] == '\0')
			return err;
		c = (unsigned char)path[n];
		enc[0] = '%';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		if ((err = pf_buf_add(b, enc, 3)) != NULL)
			return err;
	}
}

/* "<tr><th>name</th><td>value</td></tr>" for the summary. */
static struct pf_error *
html_pair(struct pf_manifest *m, const char *name, const char *value)
{
	struct pf_error *err;

	if ((err = pf_buf_addstr(&m->hbuf, "<tr><th>")) != NULL ||
	    (err = pf_buf_addstr(&m->hbuf, name)) != NULL ||
	    (err = pf_buf_addstr(&m->hbuf, "</th><td>")) != NULL ||
	    (err = html_text(&m->hbuf, &m->clean, value)) != NULL)
		return err;
	return pf_buf_addstr(&m->hbuf, "</td></tr>\n");
}

/* The page up to the rows: plain HTML5, no script, nothing fetched (the
 * policy also forbids it should a value ever slip through). */
static struct pf_error *
html_head(struct pf_manifest *m)
{
	struct pf_buf *b = &m->hbuf;
	struct pf_error *err;

	pf_buf_reset(b);
	if ((err = pf_buf_addstr(b, "<!DOCTYPE html>\n<html lang=\"en\">\n"
	    "<head>\n<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" "
	    "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n<title>profactory run ")) != NULL ||
	    (err = html_text(b, &m->clean, m->od->run)) != NULL ||
	    (err = pf_buf_addstr(b, "</title>\n<style>\n"
	    "body { font-family: sans-serif; margin: 1em; }\n"
	    "table { border-collapse: collapse; }\n"
	    "th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; "
	    "text-align: left; vertical-align: top; }\n"
	    "</style>\n</head>\n<body>\n<h1>profactory run ")) != NULL ||
	    (err = html_text(b, &m->clean, m->od->run)) != NULL ||
	    (err = pf_buf_addstr(b, "</h1>\n<table id=\"profiles\">\n"
	    "<thead><tr><th>Line</th><th>User</th><th>Template</th>"
	    "<th>Version</th><th>Status</th><th>Profile</th><th>Error</th>"
	    "</tr></thead>\n<tbody>\n")) != NULL)
		return err;
	return NULL;
}

/* One row of the page: the profile linked when it is one to hand out
 * (issued, reissued or unchanged); a revoked one's path is shown as
 * text, a failed row has its error. */
static struct pf_error *
html_row(struct pf_manifest *m, const struct pf_manifest_row *r,
    const char *line, const char *version)
{
	struct pf_buf *b = &m->hbuf;
	struct pf_error *err;
	int link;

	link = r->file != NULL && r->file[0] != '\0' &&
	    (strcmp(r->status, "issued") == 0 ||
	    strcmp(r->status, "reissued") == 0 ||
	    strcmp(r->status, "unchanged") == 0);
	pf_buf_reset(b);
	if ((err = pf_buf_addstr(b, "<tr><td class=\"line\">")) != NULL ||
	    (err = pf_buf_addstr(b, line)) != NULL ||
	    (err = pf_buf_addstr(b, "</td><td class=\"user\">")) != NULL ||
	    (err = html_text(b, &m->clean, r->user)) != NULL ||
	    (err = pf_buf_addstr(b, "</td><td class=\"template\">")) !=
	    NULL ||
	    (err = html_text(b, &m->clean, r->template_name)) != NULL ||
	    (err = pf_buf_addstr(b, "</td><td class=\"version\">")) != NULL ||
	    (err = pf_buf_addstr(b, version)) != NULL ||
	    (err = pf_buf_addstr(b, "</td><td class=\"status\">")) != NULL ||
	    (err = html_text(b, &m->clean, r->status)) != NULL ||
	    (err = pf_buf_addstr(b, "</td><td class=\"file\">")) != NULL)
		return err;
	if (link && ((err = pf_buf_addstr(b, "<a href=\"")) != NULL ||
	    (err = html_href(b, r->file)) != NULL ||
	    (err = pf_buf_addstr(b, "\">")) != NULL))
		return err;
	if ((err = html_text(b, &m->clean, r->file)) != NULL ||
	    (link && (err = pf_buf_addstr(b, "</a>")) != NULL) ||
	    (err = pf_buf_addstr(b, "</td><td class=\"error\">")) != NULL ||
	    (err = html_text(b, &m->clean, r->error)) != NULL ||
	    (err = pf_buf_addstr(b, "</td></tr>\n")) != NULL)
		return err;
	return NULL;
}

struct pf_error *
pf_manifest_open(struct pf_manifest **out, struct pf_outdir *od)
{
	struct pf_manifest *m;
	struct pf_error *err;
	size_t i;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return pf_error_nomem();
	m->od = od;
	if ((m->csv = open_tmp(od, CSV_TMP)) == NULL ||
	    (m->json = open_tmp(od, JSON_TMP)) == NULL ||
	    (m->html = open_tmp(od, HTML_TMP)) == NULL) {
		err = pf_error_errno(PF_EX_CANTCREAT, "%s/%s/manifest",
		    od->root, od->run);

		pf_manifest_abort(m);
		return err;
	}
	for (i = 0; i < sizeof(columns) / sizeof(columns[0]); i++)
		fprintf(m->csv, "%s%s", i ? "," : "", columns[i]);
	fputs("\r\n", m->csv);
	fputs("{\n  \"rows\": [", m->json);
	if ((err = html_head(m)) != NULL) {
		pf_manifest_abort(m);
		return err;
	}
	if (fwrite(m->hbuf.data, 1, m->hbuf.len, m->html) != m->hbuf.len) {
		err = pf_error_errno(PF_EX_IOERR, "write %s/%s/index.html",
		    od->root, od->run);
		pf_manifest_abort(m);
		return err;
	}
	*out = m;
	return NULL;
}

static struct pf_error *
json_field(struct pf_buf *b, const char *name, const char *val, int comma)
{
	struct pf_buf clean = { 0 };
	struct pf_error *err;

	if (val != NULL)
		val = clean_text(&clean, val, 0);
	if ((err = pf_buf_addstr(b, comma ? ", \"" : "\"")) != NULL ||
	    (err = pf_buf_addstr(b, name)) != NULL ||
	    (err = pf_buf_add(b, "\": ", 3)) != NULL)
		goto done;
	if (val == NULL)
		err = pf_buf_addstr(b, "null");
	else
		err = pf_buf_json_str(b, val, strlen(val));
done:
	pf_buf_free(&clean);
	return err;
}

struct pf_error *
pf_manifest_add(struct pf_manifest *m, const struct pf_manifest_row *r)
{
	struct pf_error *err;
	char num[4][32], exp[32] = "";
	const char *cells[12];
	size_t i;

	fmt_num(num[0], r->line);
	fmt_num(num[1], r->template_version);
	fmt_num(num[2], r->bytes);
	fmt_num(num[3], r->challenge_id);
	if (r->challenge_expires != 0) {
		/* one expiry for every profile a run issues */
		if (r->challenge_expires != m->exp_t) {
			pf_time_iso(r->challenge_expires, m->exp,
			    sizeof(m->exp));
			m->exp_t = r->challenge_expires;
		}
		memcpy(exp, m->exp, sizeof(exp));
	}
	cells[0] = r->line > 0 ? num[0] : "";
	cells[1] = r->user;
	cells[2] = r->template_name;
	cells[3] = r->template_version > 0 ? num[1] : "";
	cells[4] = r->status;
	cells[5] = r->file;
	cells[6] = r->sha256;
	cells[7] = r->bytes >= 0 ? num[2] : "";
	cells[8] = r->payload_identifier;
	cells[9] = r->challenge_id > 0 ? num[3] : "";
	cells[10] = exp;
	cells[11] = r->error;
	pf_buf_reset(&m->buf);
	for (i = 0; i < 12; i++) {
		if ((i > 0 && (err = pf_buf_add(&m->buf, ",", 1)) != NULL) ||
		    (err = csv_cell(&m->buf, clean_text(&m->clean, cells[i],
		    1))) != NULL)
			return err;
	}
	if ((err = pf_buf_add(&m->buf, "\r\n", 2)) != NULL)
		return err;
	if (fwrite(m->buf.data, 1, m->buf.len, m->csv) != m->buf.len)
		goto ioerr;
	m->unkicked += m->buf.len;

	pf_buf_reset(&m->buf);
	if ((err = pf_buf_addstr(&m->buf, m->nrows ? ",\n    {\"line\": " :
	    "\n    {\"line\": ")) != NULL ||
	    (err = pf_buf_addstr(&m->buf, r->line > 0 ? num[0] : "null")) !=
	    NULL ||
	    (err = json_field(&m->buf, "user", r->user, 1)) != NULL ||
	    (err = json_field(&m->buf, "template", r->template_name, 1)) ||
	    (err = json_num(&m->buf, "template_version",
	    r->template_version > 0 ? num[1] : NULL)) != NULL ||
	    (err = json_field(&m->buf, "status", r->status, 1)) != NULL ||
	    (err = json_field(&m->buf, "file", r->file, 1)) != NULL ||
	    (err = json_field(&m->buf, "sha256", r->sha256, 1)) != NULL ||
	    (err = json_num(&m->buf, "bytes", r->bytes >= 0 ? num[2] :
	    NULL)) != NULL ||
	    (err = json_field(&m->buf, "payload_identifier",
	    r->payload_identifier, 1)) != NULL ||
	    (err = json_num(&m->buf, "challenge_id", r->challenge_id > 0 ?
	    num[3] : NULL)) != NULL ||
	    (err = json_field(&m->buf, "challenge_expires",
	    exp[0] ? exp : NULL, 1)) != NULL ||
	    (err = json_field(&m->buf, "error", r->error, 1)) != NULL ||
	    (err = pf_buf_addstr(&m->buf, "}")) != NULL)
		return err;
	if (fwrite(m->buf.data, 1, m->buf.len, m->json) != m->buf.len)
		goto ioerr;
	if ((err = html_row(m, r, cells[0], cells[3])) != NULL)
		return err;
	if (fwrite(m->hbuf.data, 1, m->hbuf.len, m->html) != m->hbuf.len)
		goto ioerr;
	m->nrows++;
	m->unkicked += m->buf.len + m->hbuf.len;
	if (m->unkicked >= KICK_BYTES && kick(m) == -1)
		goto ioerr;
	return NULL;
ioerr:
	return pf_error_errno(PF_EX_IOERR, "write %s/%s/manifest",
	    m->od->root, m->od->run);
}

static int
finish_file(FILE **fpp)
{
	FILE *fp = *fpp;
	int bad;

	*fpp = NULL;
	bad = fflush(fp) == EOF || ferror(fp) || fsync(fileno(fp)) == -1;
	if (fclose(fp) == EOF)
		bad = 1;
	return bad ? -1 : 0;
}

/* The end of the page: the rows' table closed, then the run summary. */
static struct pf_error *
html_summary(struct pf_manifest *m, const struct pf_manifest_summary *s,
    const char *t0, const char *t1, const char *not_after)
{
	struct pf_error *err;
	char num[7][32];

	snprintf(num[0], sizeof(num[0]), "%lld.%03lld s", s->duration_ms / 1000,
	    s->duration_ms % 1000);
	snprintf(num[1], sizeof(num[1]), "%lld", s->rows);
	snprintf(num[2], sizeof(num[2]), "%lld", s->issued);
	snprintf(num[3], sizeof(num[3]), "%lld", s->reissued);
	snprintf(num[4], sizeof(num[4]), "%lld", s->unchanged);
	snprintf(num[5], sizeof(num[5]), "%lld", s->revoked);
	snprintf(num[6], sizeof(num[6]), "%lld", s->failed);
	pf_buf_reset(&m->hbuf);
	if ((err = pf_buf_addstr(&m->hbuf, "</tbody>\n</table>\n"
	    "<h2>Summary</h2>\n<table id=\"summary\">\n")) != NULL ||
	    (err = html_pair(m, "Run", s->run)) != NULL ||
	    (err = html_pair(m, "Kind", s->kind)) != NULL ||
	    (err = html_pair(m, "Started", t0)) != NULL ||
	    (err = html_pair(m, "Finished", t1)) != NULL ||
	    (err = html_pair(m, "Duration", num[0])) != NULL ||
	    (err = html_pair(m, "CSV", s->csv)) != NULL ||
	    (err = html_pair(m, "Signer", s->signer_sha256 != NULL ?
	    s->signer_subject : "none (unsigned)")) != NULL ||
	    (s->signer_sha256 != NULL &&
	    ((err = html_pair(m, "Signer SHA-256", s->signer_sha256)) !=
	    NULL ||
	    (err = html_pair(m, "Signer valid until", not_after)) != NULL)) ||
	    (err = html_pair(m, "Rows", num[1])) != NULL ||
	    (err = html_pair(m, "Issued", num[2])) != NULL ||
	    (err = html_pair(m, "Reissued", num[3])) != NULL ||
	    (err = html_pair(m, "Unchanged", num[4])) != NULL ||
	    (err = html_pair(m, "Revoked", num[5])) != NULL ||
	    (err = html_pair(m, "Failed", num[6])) != NULL ||
	    (err = pf_buf_addstr(&m->hbuf, "</table>\n</body>\n</html>\n")) !=
	    NULL)
		return err;
	return NULL;
}

struct pf_error *
pf_manifest_finish(struct pf_manifest *m, const struct pf_manifest_summary *s)
{
	struct pf_error *err = NULL;
	struct pf_buf *b = &m->buf;
	char t0[32], t1[32], na[32] = "";

	pf_time_iso(s->started, t0, sizeof(t0));
	pf_time_iso(s->finished, t1, sizeof(t1));
	if (s->signer_not_after != 0)
		pf_time_iso(s->signer_not_after, na, sizeof(na));
	pf_buf_reset(b);
	if ((err = pf_buf_addstr(b, "\n  ],\n  \"summary\": {")) != NULL ||
	    (err = json_field(b, "run", s->run, 0)) != NULL ||
	    (err = json_field(b, "kind", s->kind, 1)) != NULL ||
	    (err = json_field(b, "started", t0, 1)) != NULL ||
	    (err = json_field(b, "finished", t1, 1)) != NULL ||
	    (err = pf_buf_printf(b, ", \"duration_ms\": %lld",
	    s->duration_ms)) != NULL ||
	    (err = json_field(b, "csv", s->csv, 1)) != NULL ||
	    (err = pf_buf_addstr(b, ", \"signer\": ")) != NULL)
		goto done;
	if (s->signer_sha256 == NULL)
		err = pf_buf_addstr(b, "null");
	else if ((err = pf_buf_addstr(b, "{")) == NULL &&
	    (err = json_field(b, "subject", s->signer_subject, 0)) == NULL &&
	    (err = json_field(b, "sha256", s->signer_sha256, 1)) == NULL &&
	    (err = json_field(b, "not_after", na, 1)) == NULL)
		err = pf_buf_addstr(b, "}");
	if (err != NULL)
		goto done;
	if ((err = pf_buf_printf(b, ", \"counts\": {\"rows\": %lld, "
	    "\"issued\": %lld, \"reissued\": %lld, \"unchanged\": %lld, "
	    "\"revoked\": %lld, \"failed\": %lld}}\n}\n", s->rows, s->issued,
	    s->reissued, s->unchanged, s->revoked, s->failed)) != NULL)
		goto done;
	if ((err = html_summary(m, s, t0, t1, na)) != NULL)
		goto done;
	if (fwrite(b->data, 1, b->len, m->json) != b->len ||
	    fwrite(m->hbuf.data, 1, m->hbuf.len, m->html) != m->hbuf.len ||
	    kick(m) == -1 || finish_file(&m->json) == -1 || finish_file(&m->csv) == -1 ||
	    finish_file(&m->html) == -1) {
		err = pf_error_errno(PF_EX_IOERR, "write %s/%s/manifest",
		    m->od->root, m->od->run);
		goto done;
	}
	if (renameat(m->od->runfd, CSV_TMP, m->od->runfd, "manifest.csv") ==
	    -1 || renameat(m->od->runfd, JSON_TMP, m->od->runfd,
	    "manifest.json") == -1 || renameat(m->od->runfd, HTML_TMP,
	    m->od->runfd, "index.html") == -1) {
		err = pf_error_errno(PF_EX_IOERR, "rename %s/%s/manifest",
		    m->od->root, m->od->run);
		goto done;
	}
	if (fsync(m->od->runfd) == -1)
		err = pf_error_errno(PF_EX_IOERR, "sync %s/%s", m->od->root,
		    m->od->run);
done:
	pf_manifest_abort(m);
	return err;
}

void
pf_manifest_abort(struct pf_manifest *m)
{
	if (m == NULL)
		return;
	if (m->csv != NULL) {
		fclose(m->csv);
		unlinkat(m->od->runfd, CSV_TMP, 0);
	}
	if (m->json != NULL) {
		fclose(m->json);
		unlinkat(m->od->runfd, JSON_TMP, 0);
	}
	if (m->html != NULL) {
		fclose(m->html);
		unlinkat(m->od->runfd, HTML_TMP, 0);
	}
	pf_buf_free(&m->buf);
	pf_buf_free(&m->hbuf);
	pf_buf_free(&m->clean);
	free(m);
}
