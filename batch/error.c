#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "error.h"

static struct pf_error nomem = { PF_EX_SOFTWARE, "out of memory" };

struct pf_error *
pf_error_nomem(void)
{
	return &nomem;
}

static struct pf_error *
verror(int code, const char *fmt, va_list ap)
{
	struct pf_error *err;

	err = malloc(sizeof(*err));
	if (err == NULL)
		return &nomem;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return err;
}

struct pf_error *
pf_error_fmt(int code, const char *fmt, ...)
{
	struct pf_error *err;
	va_list ap;

	va_start(ap, fmt);
	err = verror(code, fmt, ap);
	va_end(ap);
	return err;
}

static void
append(struct pf_error *err, const char *s)
{
	size_t n;

	if (err == &nomem)
		return;
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", s);
}

struct pf_error *
pf_error_errno(int code, const char *fmt, ...)
{
	struct pf_error *err;
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	err = verror(code, fmt, ap);
	va_end(ap);
	append(err, strerror(saved));
	return err;
}

struct pf_error *
pf_error_ssl(int code, const char *fmt, ...)
{
	struct pf_error *err;
	va_list ap;
	unsigned long e;
	char buf[256];

	va_start(ap, fmt);
	err = verror(code, fmt, ap);
	va_end(ap);
	e = ERR_peek_last_error();
	if (e != 0) {
		const char *reason = ERR_reason_error_string(e);

		if (reason != NULL)
			snprintf(buf, sizeof(buf), "%s", reason);
		else
			ERR_error_string_n(e, buf, sizeof(buf));
		append(err, buf);
	}
	ERR_clear_error();
	return err;
}

struct pf_error *
pf_error_prefix(struct pf_error *err, const char *fmt, ...)
{
	char ctx[PF_ERRMSG_MAX], tmp[2 * PF_ERRMSG_MAX + 2];
	va_list ap;

	if (err == NULL || err == &nomem)
		return err;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	snprintf(tmp, sizeof(tmp), "%s: %s", ctx, err->msg);
	memcpy(err->msg, tmp, sizeof(err->msg) - 1);
	err->msg[sizeof(err->msg) - 1] = '\0';
	return err;
}

void
pf_error_free(struct pf_error *err)
{
	if (err != NULL && err != &nomem)
		free(err);
}

void
pf_warnf(const struct pf_warn *w, const char *fmt, ...)
{
	char msg[PF_ERRMSG_MAX];
	va_list ap;

	if (w == NULL || w->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->fn(w->arg, msg);
}
