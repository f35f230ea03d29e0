#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "inspect.h"
#include "util.h"

/*
 * inspect FILE [--ca PEM] [--json] [--allow-unsigned]: the report on
 * stdout; exit 0 when verified (or the signature is valid and no --ca was
 * given), 1 with the reasons on stderr when a check failed or the profile
 * is unsigned (0 for an unsigned one with --allow-unsigned), 65 when a
 * signed file's content is not a profile.
 */
struct pf_error *
cmd_inspect(struct pf_cmdctx *ctx, int argc, char **argv)
{
	enum { O_CA = 256, O_JSON, O_ALLOW_UNSIGNED };
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, O_CA },
		{ "json", no_argument, NULL, O_JSON },
		{ "allow-unsigned", no_argument, NULL, O_ALLOW_UNSIGNED },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_inspect_opts o;
	struct pf_inspection *in = NULL;
	struct pf_buf out = { 0 };
	struct pf_error *err = NULL;
	const char *path, *ca = NULL, *cerr;
	char *data = NULL, *ca_pem = NULL, why[PF_ERRMSG_MAX];
	size_t len = 0, ca_len = 0, i;
	int ch, json = 0, allow_unsigned = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_CA:
			ca = optarg;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_ALLOW_UNSIGNED:
			allow_unsigned = 1;
			break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	if (optind == argc)
		return pf_cmd_usage(ctx, "FILE is required");
	if (argc - optind > 1)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[optind + 1]);
	path = argv[optind];

	if (ca != NULL && (err = pf_read_file(ca, PF_INSPECT_CA_MAX_BYTES,
	    &ca_pem, &ca_len)) != NULL) {
		if (err->code == PF_EX_DATAERR)
			err->code = PF_EX_CONFIG;
		err = pf_error_prefix(err, "--ca");
		goto done;
	}
	if ((err = pf_read_file(path, PF_INSPECT_MAX_BYTES, &data,
	    &len)) != NULL)
		goto done;

	memset(&o, 0, sizeof(o));
	o.label = path;
	o.ca_label = ca;
	o.ca_pem = ca_pem;
	o.ca_len = ca_len;
	o.now = time(NULL);
	if ((err = pf_inspect(&in, (const uint8_t *)data, len, &o)) != NULL)
		goto done;
	if ((err = json ? pf_inspection_json(in, &out) :
	    pf_inspection_text(in, &out)) != NULL)
		goto done;
	fwrite(out.data, 1, out.len, stdout);

	switch (pf_inspection_verdict(in)) {
	case PF_VERDICT_VERIFIED:
	case PF_VERDICT_SIGNATURE:
		break;
	case PF_VERDICT_UNSIGNED:
		if (!allow_unsigned)
			err = pf_error_fmt(PF_EX_FAILED, "%s: unsigned profile "
			    "(--allow-unsigned accepts it)", path);
		break;
	case PF_VERDICT_FAILED:
		why[0] = '\0';
		for (i = 0; i < pf_inspection_nproblems(in); i++) {
			size_t l = strlen(why);

			snprintf(why + l, sizeof(why) - l, "%s%s",
			    i == 0 ? "" : "; ", pf_inspection_problem(in, i));
		}
		err = pf_error_fmt(PF_EX_FAILED, "%s: not verified: %s", path,
		    why);
		break;
	}
	if (err == NULL && (cerr = pf_inspection_content_error(in)) != NULL)
		err = pf_error_fmt(PF_EX_DATAERR, "%s: the signed content is "
		    "not a profile: %s", path, cerr);
done:
	pf_inspection_free(in);
	pf_buf_wipe(&out);
	if (data != NULL) {
		OPENSSL_cleanse(data, len);	/* holds the challenge */
		free(data);
	}
	free(ca_pem);
	return err;
}
