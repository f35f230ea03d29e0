#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "store.h"
#include "util.h"

/*
 * A run the database holds as running while no run holds the run lock
 * was killed: it shows as interrupted, as the next run will record it.
 * (The lock is looked at, not taken, so a run starting meanwhile is not
 * turned away; and not the process id, which another process may have
 * now, or which may be of another PID namespace.)  active: 1, 0, or -1
 * when it cannot be told (the status stays as recorded).
 */
static const char *
status_of(const struct pf_run_rec *r, int active)
{
	if (strcmp(r->status, "running") == 0 && active == 0)
		return "interrupted";
	return r->status;
}

static struct pf_error *
print_run(void *arg, const struct pf_run_rec *r)
{
	const int *active = arg;
	char when[32];

	pf_time_iso(r->started_at, when, sizeof(when));
	printf("%-20s %-10s %-11s %s %7lld %7lld %8lld %9lld %7lld %6lld\n",
	    r->name, r->kind, status_of(r, *active), when, r->n_rows,
	    r->n_issued, r->n_reissued, r->n_unchanged, r->n_revoked,
	    r->n_failed);
	return NULL;
}

struct json_state {
	struct pf_buf b;
	int n;
	int active;		/* pf_db_run_active() */
};

static struct pf_error *
json_run(void *arg, const struct pf_run_rec *r)
{
	struct json_state *js = arg;
	struct pf_buf *b = &js->b;
	struct pf_error *err;
	char t0[32], t1[32] = "";

	pf_time_iso(r->started_at, t0, sizeof(t0));
	if (r->finished_at)
		pf_time_iso(r->finished_at, t1, sizeof(t1));
	pf_buf_reset(b);
	if ((err = pf_buf_printf(b, "%s\n  {\"id\": %lld, \"run\": ",
	    js->n++ ? "," : "", r->id)) != NULL ||
	    (err = pf_buf_json_str(b, r->name, strlen(r->name))) != NULL ||
	    (err = pf_buf_printf(b, ", \"kind\": \"%s\", \"status\": \"%s\", "
	    "\"started\": \"%s\", \"finished\": %s%s%s, \"duration_ms\": %lld, "
	    "\"rows\": %lld, \"issued\": %lld, \"reissued\": %lld, "
	    "\"unchanged\": %lld, \"revoked\": %lld, \"failed\": %lld, "
	    "\"dir\": ", r->kind, status_of(r, js->active), t0, t1[0] ? "\"" : "",
	    t1[0] ? t1 : "null", t1[0] ? "\"" : "", r->duration_ms,
	    r->n_rows, r->n_issued, r->n_reissued, r->n_unchanged,
	    r->n_revoked, r->n_failed)) != NULL)
		return err;
	if (r->out_dir != NULL) {
		char dir[4096];

		snprintf(dir, sizeof(dir), "%s/%s", r->out_dir, r->name);
		err = pf_buf_json_str(b, dir, strlen(dir));
	} else
		err = pf_buf_addstr(b, "null");
	if (err != NULL)
		return err;
	if ((err = pf_buf_addstr(b, "}")) != NULL)
		return err;
	fputs(b->data, stdout);
	return NULL;
}

struct pf_error *
cmd_runs(struct pf_cmdctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct json_state js;
	struct pf_db *db = NULL;
	struct pf_error *err;
	int ch, json = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return pf_cmd_usage(ctx, "bad option");
		json = 1;
	}
	if (optind != argc)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[optind]);
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		return err;
	memset(&js, 0, sizeof(js));
	js.active = pf_db_run_active(ctx->dbpath);
	if (json) {
		fputs("[", stdout);
		err = pf_store_run_list(db, json_run, &js);
		fputs(js.n ? "\n]\n" : "]\n", stdout);
	} else {
		printf("%-20s %-10s %-11s %-20s %7s %7s %8s %9s %7s %6s\n",
		    "RUN", "KIND", "STATUS", "STARTED", "ROWS", "ISSUED",
		    "REISSUED", "UNCHANGED", "REVOKED", "FAILED");
		err = pf_store_run_list(db, print_run, &js.active);
	}
	pf_buf_free(&js.b);
	pf_db_close(db);
	return err;
}
