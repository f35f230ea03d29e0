#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "cmd.h"
#include "outdir.h"
#include "store.h"
#include "verify.h"

static void
unpublish(void *arg, const char *out_dir, const char *file)
{
	(void)arg;
	pf_current_remove(out_dir, file);
}

struct pf_error *
cmd_revoke(struct pf_cmdctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "template", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_db *db = NULL;
	struct pf_error *err;
	const char *user = NULL, *tmpl = NULL;
	long long n = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			user = optarg;
			break;
		case 't':
			tmpl = optarg;
			break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	if (optind != argc)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[optind]);
	if (user == NULL)
		return pf_cmd_usage(ctx, "--user is required");
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		return err;
	if ((err = pf_revoke_user(db, user, tmpl, time(NULL), &n)) == NULL &&
	    (err = pf_store_current_files(db, user, tmpl, unpublish,
	    NULL)) == NULL)
		printf("revoked %lld challenge%s of user \"%s\"%s%s%s\n", n,
		    n == 1 ? "" : "s", user, tmpl ? " for template \"" : "",
		    tmpl ? tmpl : "", tmpl ? "\"" : "");
	pf_db_close(db);
	return err;
}
