/*
 * mail: one RFC 5322 message per profile a run wrote, to the user's
 * address, with the signed profile attached; written to OUT/RUN/mail/
 * for inspection, or handed to "sendmail -t -i" and recorded so that a
 * profile is mailed once.  One message is in memory at a time, whatever
 * the size of the run.
 */
#ifndef PF_MAIL_H
#define PF_MAIL_H

#include <stddef.h>

#include "db.h"
#include "error.h"
#include "util.h"

#define PF_MAIL_BODY_MAX	(1024 * 1024)	/* bytes of a --body file */
#define PF_MAIL_PROFILE_MAX	(16 * 1024 * 1024) /* bytes of a profile */
#define PF_MAIL_SUBJECT		"Your configuration profile"
#define PF_MAIL_TYPE		"application/x-apple-aspen-config"

/*
 * A subject or body text with placeholders, parsed once: {{COLUMN}} (the
 * user's value in that CSV column), {{user}}, {{template}}, {{run}}.
 * Other forms ({{challenge}}, {{uuid:...}}, {{int:...}}) are unknown here.
 */
struct pf_mailtext;

/*
 * Parse text[0..len), which must be UTF-8 (a leading BOM is dropped).
 * label names the text in messages ("body.txt", "--subject"), followed by
 * ":LINE" when numbered.  Errors have the status code, e.g.
 * body.txt:3: unknown placeholder "{{challenge}}".
 */
struct pf_error *pf_mailtext_parse(struct pf_mailtext **out,
    const char *label, const char *text, size_t len, int code,
    int numbered);
void pf_mailtext_free(struct pf_mailtext *t);	/* NULL-safe */

/* Ask known(arg, column, &ok) about each {{COLUMN}}; the first one not
 * known is an error "LABEL[:LINE]: unknown placeholder "{{COLUMN}}" (why)"
 * with the text's code. */
struct pf_error *pf_mailtext_check(const struct pf_mailtext *t,
    struct pf_error *(*known)(void *arg, const char *column, int *ok),
    void *arg, const char *why);

struct pf_mailvars {
	const char *user;		/* {{user}}: the key */
	const char *tmpl;		/* {{template}} */
	const char *run;		/* {{run}} */
	/* The user's value in a column, or NULL for none (then ""). */
	const char *(*column)(void *arg, const char *name);
	void *arg;
};

/* Append the text, filled in, to out.  Values go in as text: a value
 * holding "{{x}}" is not filled again. */
struct pf_error *pf_mailtext_fill(const struct pf_mailtext *t,
    const struct pf_mailvars *v, struct pf_buf *out);

struct pf_mail_opts {
	const char *run;		/* name, numeric id or "latest" */
	const char *from;		/* "addr" or "Display Name <addr>" */
	const char *subject;		/* NULL: PF_MAIL_SUBJECT */
	const char *body;		/* NULL: a default text */
	size_t body_len;
	const char *body_label;		/* the --body file, for messages */
	const char *to_column;		/* the address; "email" by default */
	const char *name_column;	/* the To display name, when the user
					 * has a value there; "name" */
	const char *sendmail;		/* program to run, or NULL to write
					 * OUT/RUN/mail/ */
	const char *lock_path;		/* "DB.mail.lock": one mail at a time */
	const struct pf_warn *warn;	/* skipped and failed messages */
};

struct pf_mail_result {
	char run[64];			/* the run's name */
	char dir[4096];			/* OUT/RUN/mail when writing files */
	long long written, sent, skipped, failed;
};

/*
 * Mail every profile run o->run wrote, in file name order.  A profile
 * whose challenge is no longer good (superseded, revoked, pruned, expired
 * or used) is skipped with a warning; with sendmail, so is one mailed
 * before (quietly).  A message that cannot be made or sent (no or an
 * implausible address, a profile file missing or changed, sendmail
 * exiting non-zero) is a warning and counts as failed; the others go on.
 * Errors: PF_EX_USAGE (--from, --to-column, a --subject placeholder),
 * PF_EX_DATAERR (no such run, a body placeholder, text not UTF-8),
 * PF_EX_NOINPUT (the run directory is gone), PF_EX_TEMPFAIL (the run is
 * still going, or another mail command holds the lock), PF_EX_CONFIG (no
 * sendmail program), PF_EX_CANTCREAT and PF_EX_IOERR for the files.
 */
struct pf_error *pf_mail(struct pf_db *db, const struct pf_mail_opts *o,
    struct pf_mail_result *res);

#endif
