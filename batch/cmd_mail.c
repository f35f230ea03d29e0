#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "mail.h"

#define DEFAULT_SENDMAIL	"/usr/sbin/sendmail"

struct pf_error *
cmd_mail(struct pf_cmdctx *ctx, int argc, char **argv)
{
	enum { O_RUN = 256, O_FROM, O_SUBJECT, O_BODY, O_TOCOL, O_NAMECOL,
	    O_SENDMAIL };
	static const struct option opts[] = {
		{ "run", required_argument, NULL, O_RUN },
		{ "from", required_argument, NULL, O_FROM },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "body", required_argument, NULL, O_BODY },
		{ "to-column", required_argument, NULL, O_TOCOL },
		{ "name-column", required_argument, NULL, O_NAMECOL },
		{ "sendmail", no_argument, NULL, O_SENDMAIL },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_mail_opts o;
	struct pf_mail_result res;
	struct pf_db *db = NULL;
	struct pf_error *err = NULL;
	const char *body_path = NULL, *env;
	char *body = NULL, lock[4096];
	size_t body_len = 0;
	int ch, use_sendmail = 0;

	memset(&o, 0, sizeof(o));
	o.to_column = "email";
	o.name_column = "name";
	o.warn = ctx->warn;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_RUN: o.run = optarg; break;
		case O_FROM: o.from = optarg; break;
		case O_SUBJECT: o.subject = optarg; break;
		case O_BODY: body_path = optarg; break;
		case O_TOCOL: o.to_column = optarg; break;
		case O_NAMECOL: o.name_column = optarg; break;
		case O_SENDMAIL: use_sendmail = 1; break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	if (optind != argc)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[optind]);
	if (o.run == NULL || o.from == NULL)
		return pf_cmd_usage(ctx, "--run and --from are required");
	if (use_sendmail) {
		env = getenv("PROFACTORY_SENDMAIL");
		o.sendmail = env != NULL && env[0] != '\0' ? env :
		    DEFAULT_SENDMAIL;
	}
	if (pf_db_lock_path(ctx->dbpath, ".mail.lock", lock, sizeof(lock)) ==
	    -1)
		return pf_cmd_usage(ctx, "%s: path too long", ctx->dbpath);
	o.lock_path = lock;
	if (body_path != NULL) {
		if ((err = pf_read_file(body_path, PF_MAIL_BODY_MAX, &body,
		    &body_len)) != NULL)
			return err;
		o.body = body;
		o.body_len = body_len;
		o.body_label = body_path;
	}
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		goto done;
	err = pf_mail(db, &o, &res);
	/* What was done before an error still gets its line. */
	if (res.run[0] != '\0' && (err == NULL || res.written + res.sent +
	    res.skipped + res.failed > 0)) {
		printf("mail %s: %lld written, %lld sent, %lld skipped, %lld "
		    "failed", res.run, res.written, res.sent, res.skipped,
		    res.failed);
		if (res.written > 0)
			printf("; %s/", res.dir);
		putchar('\n');
	}
	if (err == NULL && res.failed > 0)
		ctx->status = PF_EX_FAILED;
done:
	free(body);
	pf_db_close(db);
	return err;
}
