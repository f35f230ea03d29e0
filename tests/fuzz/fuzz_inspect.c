/*
 * libFuzzer target for batch/inspect.c: the input bytes are a profile
 * file, signed (DER CMS) or bare (XML plist).
 *
 * pf_inspect() runs on the bytes twice: without --ca, and with a root the
 * target makes once at start-up (an EC P-256 self-signed certificate), so
 * that the chain code runs too.  Each inspection that succeeds is
 * reported as text and as JSON.
 *
 * Checked besides memory safety: pf_inspect() fails only with its
 * documented statuses and then hands out nothing; the verdict is one of
 * the four; a FAILED verdict has at least one problem and the others have
 * none; with no root given the verdict is never VERIFIED; both reports are
 * valid UTF-8 without NUL bytes, the text one ends with its "verdict:"
 * line and the JSON one with "}\n".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "error.h"
#include "inspect.h"
#include "util.h"

#include "check.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *root_pem;		/* the trusted root, PEM */
static size_t root_len;

/* A self-signed EC P-256 root, valid from an hour ago for a day. */
static void
make_root(void)
{
	EVP_PKEY *key;
	X509 *x;
	X509_NAME *name;
	BIO *b;
	char *p;
	long n;

	CHECK((key = EVP_EC_gen("P-256")) != NULL);
	CHECK((x = X509_new()) != NULL);
	CHECK(X509_set_version(x, 2));
	CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	CHECK(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL);
	CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL);
	name = X509_get_subject_name(x);
	CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fuzz root", -1, -1, 0));
	CHECK(X509_set_issuer_name(x, name));
	CHECK(X509_set_pubkey(x, key));
	CHECK(X509_sign(x, key, EVP_sha256()) > 0);
	CHECK((b = BIO_new(BIO_s_mem())) != NULL);
	CHECK(PEM_write_bio_X509(b, x));
	n = BIO_get_mem_data(b, &p);
	CHECK(n > 0 && (root_pem = malloc((size_t)n)) != NULL);
	memcpy(root_pem, p, (size_t)n);
	root_len = (size_t)n;
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(key);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	make_root();
	return 0;
}

static void
check_report(const struct pf_buf *b, int json)
{
	CHECK(b->len > 0 && b->data != NULL);
	CHECK(memchr(b->data, '\0', b->len) == NULL);
	CHECK(pf_utf8_valid(b->data, b->len));
	if (json) {
		CHECK(b->data[0] == '{');
		CHECK(b->len >= 2 && strcmp(b->data + b->len - 2, "}\n") == 0);
	} else {
		const char *last;

		CHECK(b->data[b->len - 1] == '\n');
		for (last = b->data + b->len - 1; last > b->data &&
		    last[-1] != '\n'; last--)
			;
		CHECK(strncmp(last, "verdict:", 8) == 0);
	}
}

static void
inspect_once(const uint8_t *data, size_t size, int with_root)
{
	struct pf_inspect_opts o;
	struct pf_inspection *in = NULL;
	struct pf_error *err;
	struct pf_buf b = { 0 };
	enum pf_verdict_kind v;
	size_t i, n;

	memset(&o, 0, sizeof(o));
	o.label = "fuzz.mobileconfig";
	o.now = time(NULL);
	if (with_root) {
		o.ca_label = "root.pem";
		o.ca_pem = root_pem;
		o.ca_len = root_len;
	}
	if ((err = pf_inspect(&in, data, size, &o)) != NULL) {
		CHECK(in == NULL);
		CHECK(err->code == PF_EX_DATAERR ||
		    err->code == PF_EX_CONFIG || err->code == PF_EX_SOFTWARE);
		pf_error_free(err);
		return;
	}
	CHECK(in != NULL);
	v = pf_inspection_verdict(in);
	CHECK(v == PF_VERDICT_VERIFIED || v == PF_VERDICT_SIGNATURE ||
	    v == PF_VERDICT_FAILED || v == PF_VERDICT_UNSIGNED);
	if (!with_root)
		CHECK(v != PF_VERDICT_VERIFIED);
	n = pf_inspection_nproblems(in);
	if (v == PF_VERDICT_FAILED)
		CHECK(n > 0);
	if (v == PF_VERDICT_VERIFIED || v == PF_VERDICT_SIGNATURE)
		CHECK(n == 0);
	for (i = 0; i < n; i++)
		CHECK(pf_inspection_problem(in, i) != NULL);
	CHECK(pf_inspection_text(in, &b) == NULL);
	check_report(&b, 0);
	pf_buf_reset(&b);
	CHECK(pf_inspection_json(in, &b) == NULL);
	check_report(&b, 1);
	pf_buf_free(&b);
	pf_inspection_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	inspect_once(data, size, 0);
	inspect_once(data, size, 1);
	return 0;
}
