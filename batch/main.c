/*
 * profactory: signed, per-user Apple configuration profiles with one-time
 * SCEP challenges, from a CSV and templates kept in SQLite.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "db.h"
#include "error.h"
#include "util.h"

#define PF_VERSION "0.1.0"

/* Run under this name, the binary is "profactory verify-csr": micromdm/scep's
 * scepserver -csrverifierexec runs its verifier with no arguments. */
#define PF_VERIFIER_NAME "profactory-verify-csr"

const struct pf_cmd pf_cmds[] = {
	{ "init", cmd_init, "init",
	    "create or migrate the database" },
	{ "template", cmd_template,
	    "template add [--force] NAME FILE\n"
	    "       template list\n"
	    "       template show NAME [--version N]\n"
	    "       template remove NAME",
	    "store, list, show and remove profile templates" },
	{ "run", cmd_run,
	    "run --csv FILE [--template NAME] [--key-column COL]\n"
	    "           --signer-cert PEM --signer-key PEM [--chain PEM]\n"
	    "           [--key-pass env:VAR|file:PATH] [--out DIR] "
	    "[--ttl DURATION]\n"
	    "           [--jobs N] [--unsigned] [--strict] [--dry-run] "
	    "[--wait] [--json]\n"
	    "           [--renew-before DURATION] [--prune] "
	    "[--reissue-revoked]\n"
	    "           [--layout flat|by-user]",
	    "make one signed profile per user and template" },
	{ "regenerate", cmd_regenerate,
	    "regenerate [--csv FILE] [--renew-before DURATION] [--prune]\n"
	    "           [--reissue-revoked] --signer-cert PEM "
	    "--signer-key PEM\n"
	    "           [--chain PEM] [--key-pass env:VAR|file:PATH] "
	    "[--out DIR]\n"
	    "           [--ttl DURATION] [--jobs N] [--layout flat|by-user] "
	    "[--wait]\n"
	    "           [--json] [--template NAME] [--key-column COL] "
	    "[--unsigned]\n"
	    "           [--strict] [--dry-run]",
	    "reissue only what changed or expires soon (for cron)" },
	{ "runs", cmd_runs, "runs [--json]",
	    "list past runs with their counts" },
	{ "verify-csr", cmd_verify_csr, "verify-csr [--grace DURATION] < CSR",
	    "approve (exit 0) or refuse (exit 1) a SCEP certificate request" },
	{ "revoke", cmd_revoke, "revoke --user KEY [--template NAME]",
	    "void a user's outstanding challenges" },
	{ "inspect", cmd_inspect,
	    "inspect FILE [--ca PEM] [--json] [--allow-unsigned]",
	    "check a profile's signature and chain, show what it holds" },
	{ "mail", cmd_mail,
	    "mail --run ID --from ADDR [--subject S] [--body FILE]\n"
	    "           [--to-column COL] [--name-column COL] [--sendmail]",
	    "one message per profile of a run, to file or to sendmail" },
	{ NULL, NULL, NULL, NULL }
};

static void
usage_main(FILE *fp)
{
	const struct pf_cmd *c;

	fprintf(fp, "usage: profactory [--db PATH] COMMAND [ARGS]\n"
	    "       profactory help [COMMAND]    (or COMMAND --help)\n"
	    "       profactory --version\n\ncommands:\n");
	for (c = pf_cmds; c->name != NULL; c++)
		fprintf(fp, "  %-10s %s\n", c->name, c->summary);
	fprintf(fp, "\nThe database is PATH, else $PROFACTORY_DB, else "
	    "./profactory.db.\nSee profactory(1).\n");
}

static int as_verifier;	/* run as PF_VERIFIER_NAME: no global options */

static void
usage_cmd(FILE *fp, const struct pf_cmd *c)
{
	if (as_verifier)
		fprintf(fp, "usage: %s%s\n(the database is $PROFACTORY_DB, "
		    "else ./profactory.db)\n", PF_VERIFIER_NAME,
		    c->usage + strlen(c->name));
	else
		fprintf(fp, "usage: profactory [--db PATH] %s\n", c->usage);
}

static const struct pf_cmd *
find_cmd(const char *name)
{
	const struct pf_cmd *c;

	for (c = pf_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* "profactory: WHAT: MSG" on stderr, MSG's control characters written
 * out (a warning is one line; an error may have several). */
static void
print_msg(const char *what, const char *msg, int keep_nl)
{
	struct pf_buf b = { 0 };
	struct pf_error *err;

	fflush(stdout);
	if ((err = pf_buf_visible(&b, msg, keep_nl)) != NULL) {
		pf_error_free(err);
		fprintf(stderr, "profactory: %s: (out of memory)\n", what);
	} else
		fprintf(stderr, "profactory: %s: %s\n", what, b.data ?
		    b.data : "");
	pf_buf_free(&b);
}

/* The status of a command that only wrote to standard output: 74 when
 * that failed (a full disk must not lose the text silently). */
static int
stdout_done(int status)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		print_msg("standard output", strerror(errno ? errno : EIO), 0);
		return PF_EX_IOERR;
	}
	return status;
}

static void
print_warning(void *arg, const char *msg)
{
	(void)arg;
	print_msg("warning", msg, 0);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_warn warn = { print_warning, NULL };
	struct pf_cmdctx ctx;
	const struct pf_cmd *c;
	struct pf_error *err;
	const char *base;
	int ch, status;

	umask(077);
	memset(&ctx, 0, sizeof(ctx));
	ctx.warn = &warn;
	ctx.dbpath = getenv("PROFACTORY_DB");
	if (ctx.dbpath == NULL || ctx.dbpath[0] == '\0')
		ctx.dbpath = "profactory.db";
	if (argc > 0 && argv[0] != NULL) {
		base = strrchr(argv[0], '/');
		base = base != NULL ? base + 1 : argv[0];
		if (strcmp(base, PF_VERIFIER_NAME) == 0 &&
		    (c = find_cmd("verify-csr")) != NULL) {
			as_verifier = 1;
			goto dispatch;
		}
	}

	/* Global options stop at the command name. */
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (optarg[0] == '\0') {
				fprintf(stderr, "profactory: --db: empty "
				    "path\n");
				return PF_EX_USAGE;
			}
			ctx.dbpath = optarg;
			break;
		case 'h':
			usage_main(stdout);
			return stdout_done(0);
		case 'V':
			printf("profactory %s\n", PF_VERSION);
			return stdout_done(0);
		default:
			usage_main(stderr);
			return PF_EX_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage_main(stderr);
		return PF_EX_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		if (argc == 1) {
			usage_main(stdout);
			return stdout_done(0);
		}
		if ((c = find_cmd(argv[1])) == NULL) {
			fprintf(stderr, "profactory: \"%s\": no such command\n",
			    argv[1]);
			return PF_EX_USAGE;
		}
		usage_cmd(stdout, c);
		return stdout_done(0);
	}
	if ((c = find_cmd(argv[0])) == NULL) {
		fprintf(stderr, "profactory: \"%s\": no such command\n",
		    argv[0]);
		usage_main(stderr);
		return PF_EX_USAGE;
	}
dispatch:
	if (pf_cmd_wants_help(argc, argv)) {
		usage_cmd(stdout, c);
		return stdout_done(0);
	}
	optind = 0;	/* reset getopt for the command */
	err = c->fn(&ctx, argc, argv);
	/* A full disk must not truncate output silently. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (err == NULL)
			err = pf_error_errno(PF_EX_IOERR, "standard output");
	}
	if (err != NULL) {
		print_msg(c->name, err->msg, 1);
		if (ctx.show_usage || err->code == PF_EX_USAGE)
			usage_cmd(stderr, c);
		status = err->code;
		pf_error_free(err);
		return status;
	}
	return ctx.status;
}
