/*
 * A minimal table-free unit test harness.  Each test is a function; T_RUN
 * runs it and prints "ok - name" or "not ok - name" (the runner counts
 * those lines).  T_CHECK records a failure and carries on; T_REQUIRE
 * returns from the test function.  main() ends with T_DONE().
 */
#ifndef PF_T_H
#define PF_T_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int t_fail;		/* current test failed */
static int t_nfail;		/* tests failed so far */

#define T_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		t_fail = 1;						\
	}								\
} while (0)

#define T_REQUIRE(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: requirement failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		t_fail = 1;						\
		return;							\
	}								\
} while (0)

/* Expect err == NULL; print and free it otherwise. */
#define T_OK(expr) do {							\
	struct pf_error *t_err_ = (expr);				\
	if (t_err_ != NULL) {						\
		fprintf(stderr, "%s:%d: %s: unexpected error: %s\n",	\
		    __FILE__, __LINE__, #expr, t_err_->msg);		\
		pf_error_free(t_err_);					\
		t_fail = 1;						\
		return;							\
	}								\
} while (0)

/* Expect an error with the given code whose message contains substr. */
#define T_ERR(expr, wantcode, substr) do {				\
	struct pf_error *t_err_ = (expr);				\
	if (t_err_ == NULL) {						\
		fprintf(stderr, "%s:%d: %s: expected an error\n",	\
		    __FILE__, __LINE__, #expr);				\
		t_fail = 1;						\
	} else {							\
		if (t_err_->code != (wantcode) ||			\
		    strstr(t_err_->msg, (substr)) == NULL) {		\
			fprintf(stderr, "%s:%d: %s: got [%d] %s, "	\
			    "want [%d] ...%s...\n", __FILE__, __LINE__,	\
			    #expr, t_err_->code, t_err_->msg,		\
			    (int)(wantcode), (substr));			\
			t_fail = 1;					\
		}							\
		pf_error_free(t_err_);					\
	}								\
} while (0)

#define T_RUN(fn) do {							\
	t_fail = 0;							\
	fn();								\
	printf("%s - %s\n", t_fail ? "not ok" : "ok", #fn);		\
	fflush(stdout);							\
	t_nfail += t_fail;						\
} while (0)

#define T_DONE() return t_nfail ? 1 : 0

/* Read a file under $PROFACTORY_TOP (or "."), NUL-terminated; NULL if it
 * cannot.  The caller frees it. */
static inline char *
t_slurp(const char *rel, size_t *len)
{
	const char *top = getenv("PROFACTORY_TOP");
	char path[4096];
	FILE *f;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s", top != NULL ? top : ".", rel);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* Run a shell command built from fmt; its exit status, -1 if it did not
 * exit. */
static inline int
t_sh(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline int
t_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

/* Remove the test directory path and all under it; say so if it stays. */
static inline void
t_rm_rf(const char *path)
{
	if (t_sh("rm -rf '%s'", path) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

#endif
