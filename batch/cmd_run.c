#include <sys/ioctl.h>

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "outdir.h"
#include "pipeline.h"
#include "sign.h"
#include "util.h"

#define DEFAULT_TTL	(14LL * 86400)
#define DEFAULT_RENEW	(2LL * 86400)
#define SIGNER_WARN	(30LL * 86400)
#define MAX_JOBS	256

struct progress {
	struct timespec start, last;
	int open;		/* a bar is on the line, not ended */
	pthread_mutex_t mu;	/* the publisher draws, the recorder warns */
	const struct pf_warn *warn;	/* where warnings go */
	struct pf_warn wrap;	/* warnings that end the bar's line first */
};

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/*
 * A progress bar on stderr (only used when it is a terminal): CSV rows
 * done of all, rows a second, time left; redrawn in place at most five
 * times a second, cut to the terminal's width.
 */
static void
show_progress(void *arg, long long done, long long total)
{
	struct progress *p = arg;
	struct timespec now;
	struct winsize ws;
	double secs, rate;
	char bar[31], facts[96], line[160];
	int i, fill, n;
	size_t width = sizeof(line) - 1;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&p->mu);
	if (done < total && p->open && elapsed(&p->last, &now) < 0.2) {
		pthread_mutex_unlock(&p->mu);
		return;
	}
	p->last = now;
	secs = elapsed(&p->start, &now);
	rate = secs > 0 ? (double)done / secs : 0;
	fill = total > 0 ? (int)(30 * (done < total ? done : total) / total) :
	    0;
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[30] = '\0';
	snprintf(facts, sizeof(facts), "%lld/%lld rows  %.0f/s  ETA %.0fs",
	    done, total, rate, rate > 0 && done < total ?
	    (double)(total - done) / rate : 0.0);
	/* The last column stays free: a full line would wrap on some
	 * terminals.  Too narrow for the bar: the figures alone. */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
	    (size_t)ws.ws_col - 1 < width)
		width = (size_t)ws.ws_col - 1;
	n = snprintf(line, sizeof(line), "[%s] %s", bar, facts);
	if (n < 0 || (size_t)n > width)
		snprintf(line, sizeof(line), "%s", facts);
	line[width] = '\0';
	/* \r, then erase to the end of the line: a shorter line leaves no
	 * trace of the longer one before it */
	fprintf(stderr, "\r%s\033[K", line);
	p->open = 1;
	if (done >= total) {
		fputc('\n', stderr);
		p->open = 0;
	}
	pthread_mutex_unlock(&p->mu);
}

/* A warning while the bar is shown: on a line of its own. */
static void
progress_warn(void *arg, const char *msg)
{
	struct progress *p = arg;

	pthread_mutex_lock(&p->mu);
	if (p->open) {
		fputc('\n', stderr);
		p->open = 0;
	}
	p->warn->fn(p->warn->arg, msg);
	pthread_mutex_unlock(&p->mu);
}

static void
print_summary(const struct pf_run_result *res, int json, int dry_run)
{
	const struct pf_run_rec *r = &res->run;

	if (json) {
		printf("{\"run\": \"%s\", \"dir\": ", r->name);
		{
			struct pf_buf b = { 0 };

			if (pf_buf_json_str(&b, res->dir, strlen(res->dir)) ==
			    NULL)
				fputs(b.data, stdout);
			pf_buf_free(&b);
		}
		printf(", \"dry_run\": %s, \"rows\": %lld, \"issued\": %lld, "
		    "\"reissued\": %lld, \"unchanged\": %lld, \"revoked\": "
		    "%lld, \"failed\": %lld, \"duration_ms\": %lld}\n",
		    dry_run ? "true" : "false", r->n_rows, r->n_issued,
		    r->n_reissued, r->n_unchanged, r->n_revoked, r->n_failed,
		    r->duration_ms);
		return;
	}
	printf("%s%s: %lld rows, %lld issued, %lld reissued, %lld unchanged, "
	    "%lld revoked, %lld failed in %.2f s", dry_run ? "dry run" : "run ",
	    dry_run ? "" : r->name, r->n_rows, r->n_issued, r->n_reissued,
	    r->n_unchanged, r->n_revoked, r->n_failed,
	    (double)r->duration_ms / 1000.0);
	if (!dry_run) {
		struct pf_buf b = { 0 };

		/* one line, whatever the folder's name holds */
		if (pf_buf_visible(&b, res->dir, 0) == NULL)
			printf("; %s/manifest.csv", b.data);
		pf_buf_free(&b);
	}
	putchar('\n');
}

/* run and regenerate: the same batch; regenerate may take its users from
 * the database. */
static struct pf_error *
batch(struct pf_cmdctx *ctx, int argc, char **argv, const char *kind)
{
	enum { O_CSV = 256, O_TEMPLATE, O_KEYCOL, O_CERT, O_KEY, O_CHAIN,
	    O_PASS, O_OUT, O_TTL, O_JOBS, O_UNSIGNED, O_STRICT, O_DRY,
	    O_JSON, O_WAIT, O_RENEW, O_PRUNE, O_REVOKED, O_LAYOUT };
	static const struct option opts[] = {
		{ "csv", required_argument, NULL, O_CSV },
		{ "template", required_argument, NULL, O_TEMPLATE },
		{ "key-column", required_argument, NULL, O_KEYCOL },
		{ "signer-cert", required_argument, NULL, O_CERT },
		{ "signer-key", required_argument, NULL, O_KEY },
		{ "chain", required_argument, NULL, O_CHAIN },
		{ "key-pass", required_argument, NULL, O_PASS },
		{ "out", required_argument, NULL, O_OUT },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "jobs", required_argument, NULL, O_JOBS },
		{ "unsigned", no_argument, NULL, O_UNSIGNED },
		{ "strict", no_argument, NULL, O_STRICT },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "json", no_argument, NULL, O_JSON },
		{ "wait", no_argument, NULL, O_WAIT },
		{ "renew-before", required_argument, NULL, O_RENEW },
		{ "prune", no_argument, NULL, O_PRUNE },
		{ "reissue-revoked", no_argument, NULL, O_REVOKED },
		{ "layout", required_argument, NULL, O_LAYOUT },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_signer_opts so;
	struct pf_run_opts o;
	struct pf_run_result res;
	struct pf_signer *signer = NULL;
	struct pf_db *db = NULL;
	struct pf_error *err = NULL;
	struct progress prog = { .open = 0, .mu = PTHREAD_MUTEX_INITIALIZER };
	enum pf_layout layout = PF_LAYOUT_FLAT;
	int ch, unsig = 0, json = 0;
	long n;
	char *end;

	memset(&so, 0, sizeof(so));
	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.key_column = "email";
	o.out_root = "out";
	o.ttl = DEFAULT_TTL;
	o.renew_before = -1;
	o.kind = kind;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	o.jobs = n > 0 ? (int)(n > MAX_JOBS ? MAX_JOBS : n) : 1;
	o.warn = ctx->warn;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_CSV: o.csv_path = optarg; break;
		case O_TEMPLATE: o.template_name = optarg; break;
		case O_KEYCOL: o.key_column = optarg; break;
		case O_CERT: so.cert_path = optarg; break;
		case O_KEY: so.key_path = optarg; break;
		case O_CHAIN: so.chain_path = optarg; break;
		case O_PASS: so.key_pass = optarg; break;
		case O_OUT: o.out_root = optarg; break;
		case O_TTL:
			if ((err = pf_parse_duration(optarg, &o.ttl)) != NULL)
				return err;
			if (o.ttl < 60)
				return pf_cmd_usage(ctx, "--ttl %s: at least "
				    "a minute", optarg);
			break;
		case O_JOBS:
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > MAX_JOBS)
				return pf_cmd_usage(ctx, "--jobs \"%s\": a "
				    "number from 1 to %d", optarg, MAX_JOBS);
			o.jobs = (int)n;
			break;
		case O_UNSIGNED: unsig = 1; break;
		case O_STRICT: o.strict = 1; break;
		case O_DRY: o.dry_run = 1; break;
		case O_JSON: json = 1; break;
		case O_WAIT: o.wait = 1; break;
		case O_RENEW:
			if ((err = pf_parse_duration(optarg,
			    &o.renew_before)) != NULL)
				return err;
			break;
		case O_PRUNE: o.prune = 1; break;
		case O_REVOKED: o.reissue_revoked = 1; break;
		case O_LAYOUT:
			if (pf_layout_parse(optarg, &layout) == -1)
				return pf_cmd_usage(ctx, "--layout \"%s\": flat "
				    "or by-user", optarg);
			o.layout = layout;
			break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	if (optind != argc)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[optind]);
	if (o.csv_path == NULL && strcmp(kind, "run") == 0)
		return pf_cmd_usage(ctx, "--csv is required");
	if (o.csv_path == NULL && o.prune)
		return pf_cmd_usage(ctx, "--prune needs --csv");
	if (o.out_root[0] == '\0')
		return pf_cmd_usage(ctx, "--out: an empty folder name");
	if (o.template_name != NULL &&
	    strspn(o.template_name, " \t;") == strlen(o.template_name))
		return pf_cmd_usage(ctx, "--template: no template named");
	if (o.renew_before >= o.ttl)
		return pf_cmd_usage(ctx, "--renew-before must be shorter than "
		    "--ttl");
	if (o.renew_before < 0)
		o.renew_before = o.ttl / 7 < DEFAULT_RENEW ? o.ttl / 7 :
		    DEFAULT_RENEW;
	if (o.key_column[0] == '\0')
		return pf_cmd_usage(ctx, "--key-column must not be empty");
	if (unsig && (so.cert_path || so.key_path || so.chain_path))
		return pf_cmd_usage(ctx, "--unsigned takes no signer");
	if (!unsig && (so.cert_path == NULL || so.key_path == NULL))
		return pf_cmd_usage(ctx, "--signer-cert and --signer-key are "
		    "required (or --unsigned)");
	if (so.key_pass != NULL && strncmp(so.key_pass, "env:", 4) != 0 &&
	    strncmp(so.key_pass, "file:", 5) != 0)
		return pf_cmd_usage(ctx, "--key-pass takes env:VAR or "
		    "file:PATH; a passphrase never goes on the command line");

	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		goto done;
	if (!unsig) {
		/* No core dumps while the key is in memory. */
		prctl(PR_SET_DUMPABLE, 0);
		so.now = time(NULL);
		so.warn_secs = o.renew_before > SIGNER_WARN ?
		    o.renew_before : SIGNER_WARN;
		if ((err = pf_signer_load(&signer, &so, ctx->warn)) != NULL)
			goto done;
		o.signer = signer;
	}
	if (isatty(STDERR_FILENO) && !json) {
		clock_gettime(CLOCK_MONOTONIC, &prog.start);
		prog.last = prog.start;
		o.progress = show_progress;
		o.progress_arg = &prog;
		prog.warn = ctx->warn;
		prog.wrap.fn = progress_warn;
		prog.wrap.arg = &prog;
		o.warn = &prog.wrap;
	}
	err = pf_run(db, &o, &res);
	if (prog.open)		/* end the bar's line before any message */
		fputc('\n', stderr);
	if (err != NULL)
		goto done;
	print_summary(&res, json, o.dry_run);
	if (res.run.n_failed > 0)
		ctx->status = PF_EX_FAILED;
done:
	pf_run_rec_clear(&res.run);
	pf_signer_free(signer);
	pf_db_close(db);
	return err;
}

struct pf_error *
cmd_run(struct pf_cmdctx *ctx, int argc, char **argv)
{
	return batch(ctx, argc, argv, "run");
}

struct pf_error *
cmd_regenerate(struct pf_cmdctx *ctx, int argc, char **argv)
{
	return batch(ctx, argc, argv, "regenerate");
}
