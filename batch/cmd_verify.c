#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "csr.h"
#include "db.h"
#include "util.h"
#include "verify.h"

/* Read at most max + 1 bytes of fd, so that an oversized request is seen
 * as such and refused by the parser.  *buf is malloc'd (wipe it). */
static struct pf_error *
read_request(int fd, size_t max, uint8_t **buf, size_t *len)
{
	uint8_t *b;
	size_t n = 0;
	ssize_t r;

	*buf = NULL;
	*len = 0;
	if ((b = malloc(max + 1)) == NULL)
		return pf_error_nomem();
	while (n < max + 1) {
		r = read(fd, b + n, max + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			struct pf_error *err = pf_error_errno(PF_EX_IOERR,
			    "read standard input");

			OPENSSL_cleanse(b, n);
			free(b);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return NULL;
}

struct pf_error *
cmd_verify_csr(struct pf_cmdctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	struct pf_verify_opts o;
	struct pf_verdict v;
	struct pf_db *db = NULL;
	struct pf_error *err = NULL;
	const char *env;
	uint8_t *req = NULL;
	size_t len = 0;
	int ch;

	/*
	 * A call is mostly start-up, and OpenSSL's is a good part of it.
	 * This command never encrypts, so the names of OpenSSL's ciphers
	 * need not be registered (a fifth of the call's instructions), and
	 * the process exits right after, so OpenSSL need not free what it
	 * set up.
	 */
	(void)OPENSSL_init_crypto(OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
	    OPENSSL_INIT_NO_ATEXIT, NULL);
	pf_db_lean();
	memset(&o, 0, sizeof(o));
	o.grace = PF_VERIFY_GRACE_DEFAULT;
	if ((env = getenv("PROFACTORY_GRACE")) != NULL && env[0] != '\0' &&
	    (err = pf_parse_duration(env, &o.grace)) != NULL)
		return pf_error_prefix(err, "PROFACTORY_GRACE");
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'g':
			if ((err = pf_parse_duration(optarg, &o.grace)) !=
			    NULL) {
				ctx->show_usage = 1;
				return pf_error_prefix(err, "--grace");
			}
			break;
		default:
			return pf_cmd_usage(ctx, "bad option");
		}
	}
	if (optind != argc)
		return pf_cmd_usage(ctx, "unexpected argument \"%s\"",
		    argv[optind]);

	if ((err = read_request(STDIN_FILENO, PF_CSR_MAX_BYTES, &req,
	    &len)) != NULL)
		return err;
	if ((err = pf_cmd_opendb(ctx, &db)) != NULL)
		goto done;
	o.now = time(NULL);
	if ((err = pf_verify_request(db, req, len, &o, &v)) != NULL)
		goto done;
	if (!v.approved)
		err = pf_error_fmt(PF_EX_FAILED, "%s", v.reason);
done:
	if (req != NULL) {
		OPENSSL_cleanse(req, len);	/* holds the challenge */
		free(req);
	}
	pf_db_close(db);
	return err;
}
