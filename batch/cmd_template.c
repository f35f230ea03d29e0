#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "store.h"
#include "template.h"
#include "util.h"

/* Template names become parts of file names and CSV cells: keep them
 * plain. */
static struct pf_error *
check_name(const char *name)
{
	const char *p;

	if (name[0] == '\0' || strlen(name) > 64)
		return pf_error_fmt(PF_EX_USAGE, "template name \"%s\": 1 to "
		    "64 characters", name);
	for (p = name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    (*p == '.' && p != name))
			continue;
		return pf_error_fmt(PF_EX_USAGE, "template name \"%s\": use "
		    "letters, digits, '-', '_' and '.'", name);
	}
	return NULL;
}

static struct pf_error *
template_add(struct pf_cmdctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_template *t = NULL;
	struct pf_db *db = NULL;
	struct pf_error *err = NULL;
	char *body = NULL;
	size_t len;
	long version;
	int ch, force = 0, added;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		return pf_cmd_usage(ctx, "template add needs NAME and FILE");
	if ((err = check_name(argv[0])) != NULL)
		return err;
	if ((err = pf_read_file(argv[1], PF_TEMPLATE_MAX_BYTES, &body,
	    &len)) != NULL)
		return err;
	if ((err = pf_template_load(&t, argv[1], body, len, force,
	    ctx->warn)) != NULL)
		goto done;
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		goto done;
	if ((err = pf_store_template_add(db, argv[0], body, len, argv[1],
	    force, &version, &added)) != NULL)
		goto done;
	if (added)
		printf("template %s: version %ld added\n", argv[0], version);
	else
		printf("template %s: unchanged, version %ld\n", argv[0],
		    version);
done:
	pf_template_free(t);
	pf_db_close(db);
	free(body);
	return err;
}

static struct pf_error *
list_one(void *arg, const struct pf_tmpl_rec *r, long nversions)
{
	char when[32];

	(void)arg;
	pf_time_iso(r->created_at, when, sizeof(when));
	printf("%-20s %7ld %8ld  %s  %7zu  %.12s%s\n", r->name, r->version,
	    nversions, when, r->len, r->sha256, r->forced ? "  forced" : "");
	return NULL;
}

static struct pf_error *
template_list(struct pf_cmdctx *ctx, int argc, char **argv)
{
	struct pf_db *db = NULL;
	struct pf_error *err;

	static const struct option opts[] = {
		{ NULL, 0, NULL, 0 }
	};

	if (getopt_long(argc, argv, "", opts, NULL) != -1)
		return pf_cmd_usage(ctx, "bad option");
	if (optind != argc)
		return pf_cmd_usage(ctx, "template list takes no arguments");
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		return err;
	printf("%-20s %7s %8s  %-20s  %7s  %s\n", "NAME", "VERSION",
	    "VERSIONS", "ADDED", "BYTES", "SHA256");
	err = pf_store_template_list(db, list_one, NULL);
	pf_db_close(db);
	return err;
}

static struct pf_error *
template_show(struct pf_cmdctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_tmpl_rec rec;
	struct pf_db *db = NULL;
	struct pf_error *err;
	long version = 0;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			version = strtol(optarg, &end, 10);
			if (*end != '\0' || version <= 0)
				return pf_cmd_usage(ctx, "--version \"%s\": "
				    "not a version number", optarg);
			break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		return pf_cmd_usage(ctx, "template show needs NAME");
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		return err;
	if ((err = pf_store_template_get(db, argv[0], version, &rec)) ==
	    NULL) {
		fwrite(rec.body, 1, rec.len, stdout);
		pf_tmpl_rec_clear(&rec);
	}
	pf_db_close(db);
	return err;
}

static struct pf_error *
template_remove(struct pf_cmdctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ NULL, 0, NULL, 0 }
	};
	struct pf_db *db = NULL;
	struct pf_error *err;

	if (getopt_long(argc, argv, "", opts, NULL) != -1)
		return pf_cmd_usage(ctx, "bad option");
	argc -= optind;
	argv += optind;
	if (argc != 1)
		return pf_cmd_usage(ctx, "template remove needs NAME");
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		return err;
	if ((err = pf_store_template_remove(db, argv[0])) == NULL)
		printf("template %s: removed\n", argv[0]);
	pf_db_close(db);
	return err;
}

struct pf_error *
cmd_template(struct pf_cmdctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return pf_cmd_usage(ctx, "template needs a subcommand");
	if (strcmp(argv[1], "add") == 0)
		return template_add(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return template_list(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return template_show(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "remove") == 0)
		return template_remove(ctx, argc - 1, argv + 1);
	return pf_cmd_usage(ctx, "\"%s\": no such template subcommand",
	    argv[1]);
}
