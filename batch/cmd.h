/*
 * The command layer: one cmd_X() per subcommand, argument parsing and
 * output only; the work is done by the engine modules.
 */
#ifndef PF_CMD_H
#define PF_CMD_H

#include <stdio.h>

#include "db.h"
#include "error.h"

struct pf_cmdctx {
	const char *dbpath;	/* --db, $PROFACTORY_DB or ./profactory.db */
	const struct pf_warn *warn;	/* prints "profactory: warning: ..." */
	int status;		/* exit status when no error (0 or 1) */
	int show_usage;		/* set by a command on a usage error */
};

struct pf_cmd {
	const char *name;
	struct pf_error *(*fn)(struct pf_cmdctx *, int, char **);
	const char *usage;	/* synopsis lines, without "usage: " */
	const char *summary;	/* one line for "profactory help" */
};

extern const struct pf_cmd pf_cmds[];

struct pf_error *cmd_init(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_template(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_run(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_regenerate(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_runs(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_verify_csr(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_revoke(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_inspect(struct pf_cmdctx *, int, char **);
struct pf_error *cmd_mail(struct pf_cmdctx *, int, char **);

/* Open the database for a command (schema must be current). */
struct pf_error *pf_cmd_opendb(struct pf_cmdctx *ctx, struct pf_db **db);
/* A usage error: sets ctx->show_usage. */
struct pf_error *pf_cmd_usage(struct pf_cmdctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 if argv[1] asks for help ("--help" or "-h"). */
int pf_cmd_wants_help(int argc, char **argv);
/* Read a whole file of at most max bytes; PF_EX_NOINPUT when missing. */
struct pf_error *pf_read_file(const char *path, size_t max, char **data,
    size_t *len);

#endif
