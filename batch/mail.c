#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mail.h"
#include "mime.h"
#include "outdir.h"
#include "store.h"

#define PH_NAME_MAX	256	/* bytes of a placeholder name */
#define SHOWN_MAX	80	/* bytes of a user value quoted in a message */
#define MAX_STALE_WARNINGS 20	/* stale profiles told one by one */

static const char default_body[] =
    "Hello,\n"
    "\n"
    "attached is your configuration profile \"{{template}}\" "
    "({{user}}).\n"
    "\n"
    "On an iPhone or iPad, open the attachment, then install the\n"
    "downloaded profile in Settings > General > VPN & Device Management.\n"
    "On a Mac, open the attachment, then install it in System Settings\n"
    "(Device Management, or Privacy & Security > Profiles).\n"
    "\n"
    "The profile requests a certificate for you once, on one device.\n"
    "Please do not forward this message.\n";

enum seg_kind { SEG_LIT, SEG_COL, SEG_USER, SEG_TEMPLATE, SEG_RUN };

struct seg {
	enum seg_kind kind;
	const char *lit;	/* SEG_LIT: into t->text */
	size_t len;		/* SEG_LIT */
	char *name;		/* SEG_COL: malloc'd column name */
	long line;		/* where the placeholder is */
};

struct pf_mailtext {
	char *label;		/* malloc'd */
	char *text;		/* malloc'd copy, NUL-terminated */
	struct seg *segs;	/* malloc'd */
	size_t nsegs;
	int code;		/* status of errors about this text */
	int numbered;		/* messages carry the line */
};

void
pf_mailtext_free(struct pf_mailtext *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nsegs; i++)
		free(t->segs[i].name);
	free(t->segs);
	free(t->label);
	free(t->text);
	free(t);
}

static struct pf_error *
text_err(const struct pf_mailtext *t, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct pf_error *
text_err(const struct pf_mailtext *t, long line, const char *fmt, ...)
{
	char msg[PF_ERRMSG_MAX], where[32] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->numbered)
		snprintf(where, sizeof(where), ":%ld", line);
	return pf_error_fmt(t->code, "%s%s: %s", t->label, where, msg);
}

static long
count_lines(const char *p, size_t n)
{
	long k = 0;
	const char *e = p + n;

	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

struct pf_error *
pf_mailtext_parse(struct pf_mailtext **out, const char *label,
    const char *text, size_t len, int code, int numbered)
{
	struct pf_mailtext *t;
	struct pf_error *err = NULL;
	const char *s, *o, *cl, *name;
	size_t i = 0, j, k, nl, nopen = 0;
	long line = 1;

	*out = NULL;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return pf_error_nomem();
	t->code = code;
	t->numbered = numbered;
	if ((t->label = pf_strdup(label)) == NULL ||
	    (t->text = malloc(len + 1)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	s = t->text;
	if (!pf_utf8_valid(s, len) || memchr(s, '\0', len) != NULL) {
		err = pf_error_fmt(code, "%s: not UTF-8 text", label);
		goto done;
	}
	for (o = s; (o = memmem(o, len - (size_t)(o - s), "{{", 2)) != NULL;
	    o += 2)
		nopen++;
	if ((t->segs = calloc(2 * nopen + 1, sizeof(*t->segs))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	while (i < len) {
		struct seg *sg;

		o = memmem(s + i, len - i, "{{", 2);
		j = o == NULL ? len : (size_t)(o - s);
		if (j > i) {
			sg = &t->segs[t->nsegs++];
			sg->kind = SEG_LIT;
			sg->lit = s + i;
			sg->len = j - i;
			line += count_lines(s + i, j - i);
		}
		if (o == NULL)
			break;
		cl = memmem(s + j + 2, len - j - 2, "}}", 2);
		name = s + j + 2;
		nl = cl != NULL ? (size_t)(cl - name) : 0;
		if (cl == NULL) {
			err = text_err(t, line, "\"{{\" without a closing "
			    "\"}}\"");
			goto done;
		}
		if (nl == 0) {
			err = text_err(t, line, "empty placeholder \"{{}}\"");
			goto done;
		}
		if (nl > PH_NAME_MAX || memchr(name, '{', nl) != NULL ||
		    memchr(name, '}', nl) != NULL ||
		    memchr(name, '\n', nl) != NULL) {
			err = text_err(t, line, "malformed placeholder "
			    "\"%.*s\"", (int)(nl + 4 > 60 ? 60 : nl + 4),
			    s + j);
			goto done;
		}
		k = (size_t)(cl - s);
		sg = &t->segs[t->nsegs++];
		sg->line = line;
		if (nl == 4 && memcmp(name, "user", 4) == 0)
			sg->kind = SEG_USER;
		else if (nl == 8 && memcmp(name, "template", 8) == 0)
			sg->kind = SEG_TEMPLATE;
		else if (nl == 3 && memcmp(name, "run", 3) == 0)
			sg->kind = SEG_RUN;
		else if (memchr(name, ':', nl) != NULL ||
		    (nl == 9 && memcmp(name, "challenge", 9) == 0)) {
			/* Template-only forms; the challenge never goes
			 * into a mail. */
			err = text_err(t, line, "unknown placeholder "
			    "\"{{%.*s}}\" (mail fills {{COLUMN}}, {{user}}, "
			    "{{template}} and {{run}})", (int)nl, name);
			goto done;
		} else {
			sg->kind = SEG_COL;
			if ((sg->name = malloc(nl + 1)) == NULL) {
				err = pf_error_nomem();
				goto done;
			}
			memcpy(sg->name, name, nl);
			sg->name[nl] = '\0';
		}
		i = k + 2;
	}
done:
	if (err != NULL) {
		pf_mailtext_free(t);
		return err;
	}
	*out = t;
	return NULL;
}

struct pf_error *
pf_mailtext_check(const struct pf_mailtext *t,
    struct pf_error *(*known)(void *, const char *, int *), void *arg,
    const char *why)
{
	struct pf_error *err;
	size_t i;
	int ok;

	for (i = 0; i < t->nsegs; i++) {
		if (t->segs[i].kind != SEG_COL)
			continue;
		if ((err = known(arg, t->segs[i].name, &ok)) != NULL)
			return err;
		if (!ok)
			return text_err(t, t->segs[i].line, "unknown "
			    "placeholder \"{{%s}}\" (%s)", t->segs[i].name,
			    why);
	}
	return NULL;
}

struct pf_error *
pf_mailtext_fill(const struct pf_mailtext *t, const struct pf_mailvars *v,
    struct pf_buf *out)
{
	struct pf_error *err = NULL;
	const struct seg *sg;
	const char *val;
	size_t i;

	for (i = 0; i < t->nsegs && err == NULL; i++) {
		sg = &t->segs[i];
		switch (sg->kind) {
		case SEG_LIT:
			err = pf_buf_add(out, sg->lit, sg->len);
			continue;
		case SEG_COL:
			val = v->column != NULL ? v->column(v->arg, sg->name) :
			    NULL;
			break;
		case SEG_USER:
			val = v->user;
			break;
		case SEG_TEMPLATE:
			val = v->tmpl;
			break;
		case SEG_RUN:
			val = v->run;
			break;
		default:
			val = NULL;
		}
		err = pf_buf_addstr(out, val != NULL ? val : "");
	}
	if (err == NULL)
		err = pf_buf_add(out, "", 0);	/* data != NULL */
	return err;
}

/* The user's columns, for one message at a time. */
struct attrs {
	char **names;		/* malloc'd, n of them, each malloc'd */
	char **values;		/* malloc'd, n of them, each malloc'd */
	size_t n, cap;
};

static void
attrs_clear(struct attrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->names[i]);
		free(a->values[i]);
	}
	a->n = 0;
}

static void
attrs_free(struct attrs *a)
{
	attrs_clear(a);
	free(a->names);
	free(a->values);
	memset(a, 0, sizeof(*a));
}

static struct pf_error *
attrs_add(void *arg, const char *key, const char *value)
{
	struct attrs *a = arg;
	char *k, *v;

	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		char **pn, **pv;

		if ((pn = realloc(a->names, ncap * sizeof(*pn))) == NULL)
			return pf_error_nomem();
		a->names = pn;
		if ((pv = realloc(a->values, ncap * sizeof(*pv))) == NULL)
			return pf_error_nomem();
		a->values = pv;
		a->cap = ncap;
	}
	if ((k = pf_strdup(key)) == NULL || (v = pf_strdup(value)) == NULL) {
		free(k);
		return pf_error_nomem();
	}
	a->names[a->n] = k;
	a->values[a->n++] = v;
	return NULL;
}

static const char *
attrs_get(void *arg, const char *name)
{
	const struct attrs *a = arg;
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->names[i], name) == 0)
			return a->values[i];
	return NULL;
}

/* s quoted for a message: controls as \r, \n, \t or \xNN, at most
 * SHOWN_MAX bytes of it. */
static const char *
shown(const char *s, char *buf, size_t buflen)
{
	size_t o = 0, i;

	for (i = 0; s[i] != '\0' && o + 5 < buflen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= SHOWN_MAX && (c & 0xc0) != 0x80) {
			snprintf(buf + o, buflen - o, "...");
			return buf;
		}
		if (c == '\r' || c == '\n' || c == '\t')
			o += (size_t)snprintf(buf + o, buflen - o, "\\%c",
			    c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x",
			    c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/* Why a non-ASCII address is refused. */
static const char *
utf8_hint(const char *addr)
{
	for (; *addr != '\0'; addr++)
		if ((unsigned char)*addr >= 0x80)
			return " (non-ASCII addresses need SMTPUTF8, which "
			    "mail does not use)";
	return "";
}

/* A message that could not be made or sent: the run goes on. */
static struct pf_error *
row_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct pf_error *
row_err(const char *fmt, ...)
{
	char msg[PF_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return pf_error_fmt(PF_EX_FAILED, "%s", msg);
}

struct mailer {
	const struct pf_mail_opts *o;
	struct pf_mail_result *res;
	struct pf_db *db;		/* borrowed */
	struct pf_run_rec run;		/* strings owned */
	struct pf_store_mailq *q;	/* owned */
	struct pf_outdir *od;		/* owned: OUT/RUN, and mail/ as its
					 * "run" directory when writing */
	struct pf_mailtext *subject;	/* owned */
	struct pf_mailtext *body;	/* owned */
	char *from_name, *from_addr;	/* malloc'd */
	struct attrs attrs;		/* the current user's columns */
	struct pf_buf subj, text;	/* filled subject and body */
	struct pf_buf prof;		/* the profile's bytes */
	struct pf_buf msg;		/* the message */
	int checked;			/* placeholders checked against the run */
	int lockfd;			/* the mail lock, or -1 */
	long long nstale;		/* profiles skipped as of no use */
};

static struct pf_error *
known_column(void *arg, const char *column, int *ok)
{
	struct mailer *m = arg;

	return pf_store_run_has_column(m->db, m->run.id, column, ok);
}

/* Placeholders and --to-column against the columns the run's users
 * have; done at the first profile (a run with none has no columns). */
static struct pf_error *
check_columns(struct mailer *m)
{
	struct pf_error *err;
	char why[128];
	int ok;

	m->checked = 1;
	snprintf(why, sizeof(why), "no user of run %s has that column",
	    m->run.name);
	if ((err = known_column(m, m->o->to_column, &ok)) != NULL)
		return err;
	if (!ok)
		return pf_error_fmt(PF_EX_USAGE, "--to-column \"%s\": %s",
		    m->o->to_column, why);
	if ((err = pf_mailtext_check(m->subject, known_column, m, why)) !=
	    NULL)
		return err;
	return pf_mailtext_check(m->body, known_column, m, why);
}

/* Read the profile into m->prof and check it is what the run wrote. */
static struct pf_error *
read_profile(struct mailer *m, const struct pf_mail_item *it)
{
	struct pf_error *err;
	struct stat sb;
	char buf[65536], sha[PF_SHA256_HEX];
	ssize_t r;
	int fd;

	if (m->prof.data != NULL)	/* the last one's challenge */
		OPENSSL_cleanse(m->prof.data, m->prof.cap);
	pf_buf_reset(&m->prof);
	fd = pf_outdir_openat(m->od->rootfd, it->file, O_RDONLY);
	if (fd == -1)
		return row_err("%s/%s: %s", m->od->root, it->file,
		    strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > PF_MAIL_PROFILE_MAX) {
		close(fd);
		return row_err("%s/%s: not a regular file of at most %d "
		    "bytes", m->od->root, it->file, PF_MAIL_PROFILE_MAX);
	}
	err = NULL;
	while (err == NULL && (r = read(fd, buf, sizeof(buf))) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			err = pf_error_errno(PF_EX_IOERR, "read %s/%s",
			    m->od->root, it->file);
		else if (m->prof.len + (size_t)r > PF_MAIL_PROFILE_MAX)
			err = row_err("%s/%s: grew while read", m->od->root,
			    it->file);
		else
			err = pf_buf_add(&m->prof, buf, (size_t)r);
	}
	OPENSSL_cleanse(buf, sizeof(buf));	/* it held the challenge */
	close(fd);
	if (err != NULL)
		return err;
	pf_sha256_hex(m->prof.data != NULL ? m->prof.data : "", m->prof.len,
	    sha);
	if ((long long)m->prof.len != it->bytes ||
	    strcmp(sha, it->sha256) != 0)
		return row_err("%s/%s: changed since the run wrote it (not the "
		    "recorded size and SHA-256)", m->od->root, it->file);
	return NULL;
}

/* The message's file name: the profile's path (with its user folder in
 * the by-user layout), ".mobileconfig" replaced by ".eml".  0 if it does
 * not fit. */
static int
eml_name(const char *file, char *name, size_t len)
{
	const char *ext = ".mobileconfig";
	size_t n = strlen(file);

	if (n > strlen(ext) && strcmp(file + n - strlen(ext), ext) == 0)
		n -= strlen(ext);
	return (size_t)snprintf(name, len, "%.*s.eml", (int)n, file) < len;
}

/* Write the message as OUT/RUN/mail/[USER/]NAME.eml, replacing an older
 * one. */
static struct pf_error *
write_message(struct mailer *m, const struct pf_mail_item *it)
{
	struct pf_error *err;
	char tmp[64], name[PF_PATH_MAX + 32];

	if (!eml_name(it->file, name, sizeof(name)))
		return row_err("file name \"%s\" too long", it->file);
	if ((err = pf_outdir_write_tmp(m->od, m->msg.data, m->msg.len, tmp,
	    sizeof(tmp))) != NULL)
		return err;
	if ((err = pf_outdir_replace(m->od, tmp, name)) != NULL) {
		unlinkat(m->od->runfd, tmp, 0);
		return err;
	}
	return NULL;
}

/*
 * Hand the message to "path -t -i" on its standard input (fork and exec,
 * no shell); its output goes to our standard error.  Anything but exit
 * status 0 is a row error.
 */
static struct pf_error *
run_sendmail(const char *path, const char *data, size_t len)
{
	static char opt_t[] = "-t", opt_i[] = "-i";
	struct pf_error *err = NULL;
	int in[2] = { -1, -1 }, ep[2] = { -1, -1 }, status, e = 0, werr = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(ep, O_CLOEXEC) == -1) {
		err = pf_error_errno(PF_EX_SOFTWARE, "pipe");
		goto done;
	}
	if ((pid = fork()) == -1) {
		err = pf_error_errno(PF_EX_SOFTWARE, "fork");
		goto done;
	}
	if (pid == 0) {
		char *argv[] = { (char *)path, opt_t, opt_i, NULL };

		signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], STDIN_FILENO) != -1 &&
		    dup2(STDERR_FILENO, STDOUT_FILENO) != -1)
			execv(path, argv);
		e = errno;
		(void)!write(ep[1], &e, sizeof(e));
		_exit(127);
	}
	close(in[0]);
	close(ep[1]);
	in[0] = ep[1] = -1;
	while (len > 0) {
		n = write(in[1], data, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			werr = errno;	/* EPIPE: it stopped reading */
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	close(in[1]);
	in[1] = -1;
	while ((n = read(ep[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			err = pf_error_errno(PF_EX_SOFTWARE, "wait for %s",
			    path);
			goto done;
		}
	if (n == (ssize_t)sizeof(e))
		err = row_err("%s: %s", path, strerror(e));
	else if (WIFSIGNALED(status))
		err = row_err("%s killed by signal %d", path,
		    WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		err = row_err("%s exited with status %d", path,
		    WEXITSTATUS(status));
	else if (werr != 0)
		err = row_err("%s did not read the whole message: %s", path,
		    strerror(werr));
done:
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	if (ep[0] != -1)
		close(ep[0]);
	if (ep[1] != -1)
		close(ep[1]);
	return err;
}

static const char *
stale_reason(const char *stale)
{
	if (strcmp(stale, "superseded") == 0)
		return "profile superseded by a later run";
	if (strcmp(stale, "revoked") == 0)
		return "challenge revoked";
	if (strcmp(stale, "pruned") == 0)
		return "user pruned";
	if (strcmp(stale, "expired") == 0)
		return "challenge expired";
	if (strcmp(stale, "used") == 0)
		return "challenge already used";
	return stale;
}

/* One profile: skipped, written or sent; row errors come back as
 * PF_EX_FAILED. */
static struct pf_error *
mail_one(struct mailer *m, const struct pf_mail_item *it)
{
	const struct pf_mail_opts *o = m->o;
	struct pf_mailvars v;
	struct pf_mime_msg mm;
	struct pf_error *err;
	const char *to, *base;
	char msgid[PF_MIME_MSGID_MAX], sh[4 * SHOWN_MAX + 8];
	time_t now;

	/* "NAME" or, in the by-user layout, "USER/NAME" */
	if (it->file[0] == '.' || it->file[0] == '\0' ||
	    ((base = strchr(it->file, '/')) != NULL && (base[1] == '.' ||
	    base[1] == '\0' || strchr(base + 1, '/') != NULL)))
		return row_err("unsafe file name \"%s\" in the database",
		    shown(it->file, sh, sizeof(sh)));
	base = base != NULL ? base + 1 : it->file;
	if (it->stale[0] != '\0') {
		char name[PF_PATH_MAX + 32];

		if (m->nstale++ < MAX_STALE_WARNINGS)
			pf_warnf(o->warn, "user \"%s\", template \"%s\": %s; "
			    "not mailed", shown(it->user, sh, sizeof(sh)),
			    it->tmpl, stale_reason(it->stale));
		/* A message written before is of no use either. */
		if (o->sendmail == NULL && eml_name(it->file, name,
		    sizeof(name)))
			pf_outdir_remove(m->od, name);
		m->res->skipped++;
		return NULL;
	}
	if (o->sendmail != NULL && it->sent_at != 0) {
		m->res->skipped++;		/* mailed before */
		return NULL;
	}

	attrs_clear(&m->attrs);
	if ((err = pf_store_mailq_attrs(m->q, it->attrs, attrs_add,
	    &m->attrs)) != NULL)
		return err;
	if ((to = attrs_get(&m->attrs, o->to_column)) == NULL)
		return row_err("no address in column \"%s\"", o->to_column);
	if (!pf_mime_addr_ok(to))
		return row_err("address \"%s\" in column \"%s\" is not a "
		    "plausible address%s", shown(to, sh, sizeof(sh)),
		    o->to_column, utf8_hint(to));

	memset(&v, 0, sizeof(v));
	v.user = it->user;
	v.tmpl = it->tmpl;
	v.run = m->run.name;
	v.column = attrs_get;
	v.arg = &m->attrs;
	pf_buf_reset(&m->subj);
	pf_buf_reset(&m->text);
	if ((err = pf_mailtext_fill(m->subject, &v, &m->subj)) != NULL ||
	    (err = pf_mailtext_fill(m->body, &v, &m->text)) != NULL ||
	    (err = read_profile(m, it)) != NULL)
		return err;

	now = time(NULL);
	memset(&mm, 0, sizeof(mm));
	mm.from_name = m->from_name;
	mm.from_addr = m->from_addr;
	mm.to_name = attrs_get(&m->attrs, o->name_column);
	mm.to_addr = to;
	mm.subject = m->subj.data;
	mm.text = m->text.data;
	mm.text_len = m->text.len;
	mm.attach = m->prof.data;
	mm.attach_len = m->prof.len;
	mm.attach_name = base;
	mm.attach_type = PF_MAIL_TYPE;
	mm.date = now;
	if ((err = pf_mime_build(&m->msg, &mm, msgid, sizeof(msgid))) !=
	    NULL)
		return err;

	if (o->sendmail == NULL) {
		if ((err = write_message(m, it)) != NULL)
			return err;
		m->res->written++;
		return NULL;
	}
	if ((err = run_sendmail(o->sendmail, m->msg.data, m->msg.len)) !=
	    NULL)
		return err;
	if ((err = pf_store_mailq_sent(m->q, it->profile_id, to, msgid,
	    now)) != NULL)
		return pf_error_prefix(err, "user \"%s\", template \"%s\": "
		    "sent as %s but not recorded",
		    shown(it->user, sh, sizeof(sh)), it->tmpl, msgid);
	m->res->sent++;
	return NULL;
}

/* One mail command at a time per database: an flock(2) on lock_path. */
static struct pf_error *
take_lock(const char *path, int *fdp)
{
	int fd;

	*fdp = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return pf_error_errno(PF_EX_CANTCREAT, "%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		struct pf_error *err = errno == EWOULDBLOCK ?
		    pf_error_fmt(PF_EX_TEMPFAIL, "%s: another mail command "
		    "is running on this database", path) :
		    pf_error_errno(PF_EX_IOERR, "lock %s", path);

		close(fd);
		return err;
	}
	*fdp = fd;
	return NULL;
}

/* A run still in state "running": going on (its lock is held), or it
 * crashed, and what it recorded is good. */
static struct pf_error *
check_finished(struct pf_db *db, const struct pf_run_rec *run)
{
	struct pf_error *err;
	int fd;

	if (strcmp(run->status, "running") != 0)
		return NULL;
	if ((err = pf_db_lock(db, 0, &fd)) != NULL) {
		if (err->code != PF_EX_TEMPFAIL)
			return err;
		pf_error_free(err);
		return pf_error_fmt(PF_EX_TEMPFAIL, "run %s has not finished; "
		    "mail it when it has", run->name);
	}
	pf_db_unlock(fd);
	return NULL;
}

/* OUT/RUN as the output root; with files, mail/ (0700) as its run
 * directory. */
static struct pf_error *
open_dirs(struct mailer *m)
{
	struct pf_error *err;
	struct stat sb;
	char dir[4096];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", m->run.out_dir,
	    m->run.name) >= sizeof(dir))
		return pf_error_fmt(PF_EX_CANTCREAT, "%s: path too long",
		    m->run.out_dir);
	if (lstat(dir, &sb) == -1)
		return pf_error_errno(PF_EX_NOINPUT, "%s (the directory of "
		    "run %s)", dir, m->run.name);
	if (!S_ISDIR(sb.st_mode))
		return pf_error_fmt(PF_EX_NOINPUT, "%s: not a directory%s", dir,
		    S_ISLNK(sb.st_mode) ? " (a symbolic link: a run makes "
		    "none)" : "");
	if ((err = pf_outdir_open_existing(&m->od, dir)) != NULL)
		return err;
	/* the folder opened is the one looked at, not a link put there
	 * meanwhile */
	{
		struct stat fs;

		if (fstat(m->od->rootfd, &fs) == -1 || fs.st_dev != sb.st_dev ||
		    fs.st_ino != sb.st_ino)
			return pf_error_fmt(PF_EX_NOINPUT, "%s: changed while "
			    "opened", dir);
	}
	if (m->o->sendmail != NULL)
		return NULL;
	if ((size_t)snprintf(m->res->dir, sizeof(m->res->dir), "%s/mail",
	    dir) >= sizeof(m->res->dir))
		return pf_error_fmt(PF_EX_CANTCREAT, "%s: path too long", dir);
	if (mkdirat(m->od->rootfd, "mail", 0700) == -1 && errno != EEXIST)
		return pf_error_errno(PF_EX_CANTCREAT, "%s", m->res->dir);
	if ((err = pf_outdir_open_run(m->od, "mail")) != NULL) {
		if (err->code == PF_EX_NOINPUT)
			err->code = PF_EX_CANTCREAT;	/* a symlink */
		return err;
	}
	/* Left by a mail command that was killed. */
	return pf_outdir_clean_tmp(m->od);
}

static struct pf_error *
prepare(struct mailer *m)
{
	const struct pf_mail_opts *o = m->o;
	struct pf_error *err;
	const char *subj = o->subject != NULL ? o->subject : PF_MAIL_SUBJECT;

	if ((err = pf_mime_mailbox_split(o->from, &m->from_name,
	    &m->from_addr)) != NULL)
		return pf_error_prefix(err, "--from");
	if (!pf_mime_addr_ok(m->from_addr))
		return pf_error_fmt(PF_EX_USAGE, "--from \"%s\": not a "
		    "plausible address", o->from);
	if (o->to_column[0] == '\0')
		return pf_error_fmt(PF_EX_USAGE, "--to-column must not be "
		    "empty");
	if ((err = pf_mailtext_parse(&m->subject, "--subject", subj,
	    strlen(subj), PF_EX_USAGE, 0)) != NULL)
		return err;
	if (o->body != NULL)
		err = pf_mailtext_parse(&m->body, o->body_label, o->body,
		    o->body_len, PF_EX_DATAERR, 1);
	else
		err = pf_mailtext_parse(&m->body, "default body",
		    default_body, sizeof(default_body) - 1, PF_EX_SOFTWARE,
		    1);
	if (err != NULL)
		return err;
	if ((err = pf_store_run_find(m->db, o->run, &m->run)) != NULL)
		return err;
	snprintf(m->res->run, sizeof(m->res->run), "%s", m->run.name);
	if (o->sendmail != NULL && access(o->sendmail, X_OK) == -1)
		return pf_error_errno(PF_EX_CONFIG, "sendmail program %s (set "
		    "PROFACTORY_SENDMAIL)", o->sendmail);
	if ((err = check_finished(m->db, &m->run)) != NULL ||
	    (err = take_lock(o->lock_path, &m->lockfd)) != NULL ||
	    (err = open_dirs(m)) != NULL)
		return err;
	return pf_store_mailq_new(&m->q, m->db, m->run.id, time(NULL));
}

struct pf_error *
pf_mail(struct pf_db *db, const struct pf_mail_opts *o,
    struct pf_mail_result *res)
{
	struct sigaction ign, old;
	struct pf_mail_item it;
	struct pf_error *err = NULL;
	struct mailer m;
	char sh[4 * SHOWN_MAX + 8];
	int found, sigset = 0;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	m.prof.secret = m.msg.secret = 1;	/* they hold challenges */
	memset(&it, 0, sizeof(it));
	m.o = o;
	m.res = res;
	m.db = db;
	m.lockfd = -1;
	if ((err = prepare(&m)) != NULL)
		goto done;
	if (o->sendmail != NULL) {
		/* A sendmail that exits early must not kill us. */
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigemptyset(&ign.sa_mask);
		sigaction(SIGPIPE, &ign, &old);
		sigset = 1;
	}
	for (;;) {
		if ((err = pf_store_mailq_next(m.q, &it, &found)) != NULL ||
		    !found)
			break;
		if (!m.checked && (err = check_columns(&m)) != NULL)
			break;
		if ((err = mail_one(&m, &it)) != NULL) {
			if (err->code != PF_EX_FAILED)
				break;
			pf_warnf(o->warn, "user \"%s\", template \"%s\": %s; "
			    "not mailed", shown(it.user, sh, sizeof(sh)),
			    it.tmpl, err->msg);
			pf_error_free(err);
			err = NULL;
			res->failed++;
		}
		pf_mail_item_clear(&it);
	}
	if (m.nstale > MAX_STALE_WARNINGS)
		pf_warnf(o->warn, "%lld more profiles not mailed: superseded, "
		    "revoked, pruned, expired or used", m.nstale -
		    MAX_STALE_WARNINGS);
	if (err == NULL && o->sendmail == NULL && res->written > 0)
		err = pf_outdir_sync(m.od);
done:
	if (sigset)
		sigaction(SIGPIPE, &old, NULL);
	if (m.lockfd != -1)
		close(m.lockfd);
	pf_mail_item_clear(&it);
	pf_store_mailq_free(m.q);
	pf_outdir_close(m.od);
	pf_mailtext_free(m.subject);
	pf_mailtext_free(m.body);
	pf_run_rec_clear(&m.run);
	free(m.from_name);
	free(m.from_addr);
	attrs_free(&m.attrs);
	pf_buf_free(&m.subj);
	pf_buf_free(&m.text);
	pf_buf_wipe(&m.prof);	/* the profile holds its challenge */
	pf_buf_wipe(&m.msg);
	return err;
}
