/*
 * Errors.  A function that can fail returns a struct pf_error * (NULL on
 * success).  The error is built where the failure is seen, carries an exit
 * status class and a message with context, and is owned by the caller, who
 * either returns it upward or frees it with pf_error_free().  Only main()
 * prints an error and turns its code into the exit status.
 */
#ifndef PF_ERROR_H
#define PF_ERROR_H

#include <stdarg.h>

/* Exit statuses (sysexits.h values where one exists). */
enum pf_exit {
	PF_EX_OK = 0,
	PF_EX_FAILED = 1,	/* finished with failed rows; CSR refused */
	PF_EX_USAGE = 64,
	PF_EX_DATAERR = 65,	/* bad CSV or template */
	PF_EX_NOINPUT = 66,	/* missing input file */
	PF_EX_SOFTWARE = 70,	/* internal error, out of memory */
	PF_EX_CANTCREAT = 73,	/* cannot create output */
	PF_EX_IOERR = 74,
	PF_EX_TEMPFAIL = 75,	/* database busy, run lock held */
	PF_EX_CONFIG = 78,	/* signer, database version */
};

#define PF_ERRMSG_MAX 1024

struct pf_error {
	int code;			/* enum pf_exit */
	char msg[PF_ERRMSG_MAX];	/* lowercase, no final period */
};

/* New error with a formatted message.  Never returns NULL. */
struct pf_error *pf_error_fmt(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, with ": strerror(errno)" appended (errno read at entry). */
struct pf_error *pf_error_errno(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, with the first OpenSSL error queue entry appended; clears the queue. */
struct pf_error *pf_error_ssl(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepend "context: " to err's message; returns err. */
struct pf_error *pf_error_prefix(struct pf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Out of memory, as a static error (safe to pass to pf_error_free). */
struct pf_error *pf_error_nomem(void);
/* NULL-safe. */
void pf_error_free(struct pf_error *err);

/*
 * Warnings travel up through a callback that the command layer supplies;
 * engine code never prints.  A NULL struct or fn discards the warning.
 */
struct pf_warn {
	void (*fn)(void *arg, const char *msg);
	void *arg;
};
void pf_warnf(const struct pf_warn *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
