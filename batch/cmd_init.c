#include <getopt.h>
#include <stdio.h>

#include "cmd.h"

struct pf_error *
cmd_init(struct pf_cmdctx *ctx, int argc, char **argv)
{
	struct pf_db *db = NULL;
	struct pf_error *err;
	int from = 0, to = 0;

	(void)argv;
	if (argc != 1)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[1]);
	if ((err = pf_db_open(&db, ctx->dbpath, PF_DB_CREATE |
	    PF_DB_NOCHECK)) != NULL)
		return err;
	if ((err = pf_db_migrate(db, &from, &to)) == NULL) {
		if (from == to)
			printf("%s: schema version %d, up to date\n",
			    ctx->dbpath, to);
		else if (from == 0)
			printf("%s: created, schema version %d\n",
			    ctx->dbpath, to);
		else
			printf("%s: migrated from schema version %d to %d\n",
			    ctx->dbpath, from, to);
	}
	pf_db_close(db);
	return err;
}
