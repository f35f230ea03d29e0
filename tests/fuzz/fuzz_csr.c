/*
 * libFuzzer target for batch/csr.c: the input bytes are a certificate
 * request, DER or PEM.
 *
 * pf_csr_parse() runs on the bytes as they are.  A mutated request almost
 * never keeps a valid signature, and the parser stops at the signature
 * check, before the challengePassword, subject and subjectAltName are
 * looked at.  So when OpenSSL can decode the bytes as a request, the
 * request is also signed again with a fixed Ed25519 key, written out in
 * the input's form (DER or PEM), and parsed a second time: the fuzzer
 * then reaches the extraction code with whatever the mutation put in the
 * attributes and the extensions.
 *
 * Inputs that are neither DER (a first byte 0x30) nor PEM are also read
 * as a recipe: a list of operations that build a request through
 * OpenSSL's API (challengePassword attributes of every string type, raw
 * bytes, repeated; subject entries of any type and OID, multi-valued
 * RDNs; subjectAltName entries of every kind, otherNames of any type;
 * broken or repeated extensions), which is signed and parsed.  OpenSSL
 * is not instrumented, so this is how the fuzzer steers the types and
 * sizes that the extraction code distinguishes.
 *
 * Checked besides memory safety: the bounds of csr.h on every parsed
 * request, and an empty OpenSSL error queue after every call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "error.h"

#include "check.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static EVP_PKEY *key;			/* signs the re-signed requests */

static void
check_csr(const struct pf_csr *c)
{
	size_t i;

	CHECK(c->challenge != NULL || c->challenge_len == 0);
	CHECK(c->challenge_len <= PF_CSR_MAX_CHALLENGE);
	CHECK(c->nrdns <= PF_CSR_MAX_ENTRIES);
	CHECK(c->nsans + c->nsans_other <= PF_CSR_MAX_ENTRIES);
	for (i = 0; i < c->nrdns; i++) {
		const struct pf_csr_rdn *r = &c->rdns[i];

		CHECK(memchr(r->oid, '\0', sizeof(r->oid)) != NULL);
		CHECK(r->oid[0] >= '0' && r->oid[0] <= '2');
		CHECK(r->value != NULL && r->len <= PF_CSR_MAX_VALUE);
		CHECK(r->value[r->len] == '\0');
		CHECK(r->set >= 0);
	}
	for (i = 0; i < c->nsans; i++) {
		const struct pf_csr_san *s = &c->sans[i];

		CHECK(strcmp(pf_san_type_name(s->type), "?") != 0);
		CHECK(pf_san_type_from_name(pf_san_type_name(s->type)) ==
		    (int)s->type);
		CHECK(s->value != NULL && s->len <= PF_CSR_MAX_VALUE);
		CHECK(s->value[s->len] == '\0');
	}
	CHECK(strlen(c->key_sha256) == PF_SHA256_HEX - 1);
	CHECK(strspn(c->key_sha256, "0123456789abcdef") ==
	    PF_SHA256_HEX - 1);
}

/* Parse p[0..n); returns 1 if it parsed. */
static int
parse(const uint8_t *p, size_t n)
{
	struct pf_csr *c = NULL;
	struct pf_error *err;

	ERR_clear_error();
	err = pf_csr_parse(p, n, &c);
	CHECK(ERR_peek_error() == 0);
	if (err != NULL) {
		CHECK(c == NULL);
		CHECK(err->code == PF_EX_DATAERR ||
		    err->code == PF_EX_SOFTWARE);
		CHECK(err->msg[0] != '\0');
		pf_error_free(err);
		return 0;
	}
	CHECK(c != NULL);
	check_csr(c);
	pf_csr_free(c);
	return 1;
}

static int
is_pem(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
	    p[i] == '\n'); i++)
		;
	return n - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0;
}

/* Decode, sign with key, encode in the same form, parse. */
static void
resign(const uint8_t *data, size_t size)
{
	X509_REQ *req = NULL;
	BIO *in = NULL, *out = NULL;
	const unsigned char *q = data;
	unsigned char *der = NULL;
	char *mem;
	long mlen;
	int pem = is_pem(data, size), n;

	if (size > PF_CSR_MAX_BYTES)
		return;
	if (pem) {
		if ((in = BIO_new_mem_buf(data, (int)size)) == NULL)
			abort();
		req = PEM_read_bio_X509_REQ(in, NULL, NULL, NULL);
	} else
		req = d2i_X509_REQ(NULL, &q, (long)size);
	if (req == NULL || !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, NULL) <= 0)
		goto done;
	if (pem) {
		if ((out = BIO_new(BIO_s_mem())) == NULL)
			abort();
		if (PEM_write_bio_X509_REQ(out, req) != 1)
			goto done;
		mlen = BIO_get_mem_data(out, &mem);
		if (mlen > 0)
			parse((const uint8_t *)mem, (size_t)mlen);
	} else {
		if ((n = i2d_X509_REQ(req, &der)) > 0)
			parse(der, (size_t)n);
	}
done:
	OPENSSL_free(der);
	BIO_free(out);
	BIO_free(in);
	X509_REQ_free(req);
	ERR_clear_error();
}

/* The recipe being read: bytes left to consume. */
struct recipe {
	const uint8_t *p;
	size_t n;
};

static unsigned
take(struct recipe *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

/* Up to max bytes: a length byte, then that many bytes (fewer at the
 * end of the recipe); a length byte of 0xff takes 300 + the next byte
 * (a "long" value) repeated from what follows. */
static size_t
take_bytes(struct recipe *r, uint8_t *out, size_t max)
{
	size_t len = take(r), i;

	if (len == 0xff)
		len = 300 + take(r) * 16;
	if (len > max)
		len = max;
	for (i = 0; i < len; i++)
		out[i] = r->n > 0 ? (uint8_t)take(r) : (uint8_t)('a' + i % 26);
	return len;
}

static const int str_types[] = {
	V_ASN1_PRINTABLESTRING, V_ASN1_UTF8STRING, V_ASN1_IA5STRING,
	V_ASN1_T61STRING, V_ASN1_VISIBLESTRING, V_ASN1_BMPSTRING,
	V_ASN1_UNIVERSALSTRING, V_ASN1_OCTET_STRING, V_ASN1_NUMERICSTRING,
	V_ASN1_GENERALSTRING, V_ASN1_BIT_STRING,
};
#define NTYPES	(sizeof(str_types) / sizeof(str_types[0]))

static const char *const oids[] = {
	"2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "1.2.840.113549.1.9.1",
	"2.5.4.5", "1.2.3.4.5.6.7.8.9", "1.3.6.1.4.1.311.20.2.3",
	"0.9.2342.19200300.100.1.25",
};
#define NOIDS	(sizeof(oids) / sizeof(oids[0]))

/* An ASN1_TYPE of string type t holding b[0..n) (owned by the caller). */
static ASN1_TYPE *
mk_type(int t, const uint8_t *b, size_t n)
{
	ASN1_STRING *s;
	ASN1_TYPE *a;

	if ((s = ASN1_STRING_type_new(t)) == NULL)
		return NULL;
	if (!ASN1_STRING_set(s, b, (int)n) || (a = ASN1_TYPE_new()) == NULL) {
		ASN1_STRING_free(s);
		return NULL;
	}
	ASN1_TYPE_set(a, t, s);
	return a;
}

/* Add a challengePassword attribute holding nvals values. */
static void
add_challenge(X509_REQ *req, struct recipe *r)
{
	uint8_t b[4200];
	X509_ATTRIBUTE *a = NULL;
	ASN1_OBJECT *obj = OBJ_nid2obj(NID_pkcs9_challengePassword);
	unsigned op = take(r), nvals = 1 + (op >> 6), i;
	int t = str_types[(op & 0x3f) % NTYPES];
	size_t n;

	if ((a = X509_ATTRIBUTE_new()) == NULL ||
	    !X509_ATTRIBUTE_set1_object(a, obj))
		goto done;
	if (op == 0x3f)
		nvals = 0;		/* an attribute with no value */
	for (i = 0; i < nvals; i++) {
		n = take_bytes(r, b, sizeof(b));
		if (!X509_ATTRIBUTE_set1_data(a, t, b, (int)n))
			goto done;
	}
	X509_REQ_add1_attr(req, a);
done:
	X509_ATTRIBUTE_free(a);
}

static void
add_subject(X509_REQ *req, struct recipe *r)
{
	uint8_t b[4200];
	X509_NAME *name = X509_REQ_get_subject_name(req);
	ASN1_OBJECT *obj;
	unsigned op = take(r), k = take(r);
	int t = str_types[op % NTYPES];
	size_t n = take_bytes(r, b, sizeof(b));

	if ((obj = OBJ_txt2obj(oids[k % NOIDS], 1)) == NULL)
		return;
	/* set 0: same RDN as the previous entry (multi-valued) */
	X509_NAME_add_entry_by_OBJ(name, obj, t, b, (int)n, -1,
	    (op & 0x80) && X509_NAME_entry_count(name) > 0 ? -1 : 0);
	ASN1_OBJECT_free(obj);
}

static void
add_san(GENERAL_NAMES *gens, struct recipe *r)
{
	uint8_t b[4200];
	GENERAL_NAME *g;
	ASN1_IA5STRING *ia5;
	ASN1_OBJECT *obj;
	ASN1_TYPE *val;
	unsigned op = take(r);
	size_t n = take_bytes(r, b, sizeof(b));

	if ((g = GENERAL_NAME_new()) == NULL)
		return;
	switch (op % 6) {
	case 0:
	case 1:
	case 2:
		if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(ia5, b, (int)n)) {
			ASN1_IA5STRING_free(ia5);
			goto fail;
		}
		GENERAL_NAME_set0_value(g, op % 3 == 0 ? GEN_EMAIL :
		    op % 3 == 1 ? GEN_DNS : GEN_URI, ia5);
		break;
	case 3:
		/* otherName: the UPN OID or another, value of any type */
		obj = OBJ_txt2obj((op >> 3) & 1 ? oids[(op >> 4) % NOIDS] :
		    "1.3.6.1.4.1.311.20.2.3", 1);
		val = mk_type(str_types[(op >> 4) % NTYPES], b, n);
		if (obj == NULL || val == NULL ||
		    !GENERAL_NAME_set0_othername(g, obj, val)) {
			ASN1_OBJECT_free(obj);
			ASN1_TYPE_free(val);
			goto fail;
		}
		break;
	case 4:
		if ((ia5 = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(ia5, b, n > 16 ? 16 : (int)n)) {
			ASN1_OCTET_STRING_free(ia5);
			goto fail;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ia5);
		break;
	default:
		if ((obj = OBJ_txt2obj(oids[op % NOIDS], 1)) == NULL)
			goto fail;
		GENERAL_NAME_set0_value(g, GEN_RID, obj);
		break;
	}
	if (sk_GENERAL_NAME_push(gens, g))
		return;
fail:
	GENERAL_NAME_free(g);
}

/* An extension (SAN or another) holding raw bytes, not DER. */
static X509_EXTENSION *
raw_ext(int nid, struct recipe *r)
{
	uint8_t b[256];
	ASN1_OCTET_STRING *os;
	X509_EXTENSION *ext;
	size_t n = take_bytes(r, b, sizeof(b));

	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, b, (int)n)) {
		ASN1_OCTET_STRING_free(os);
		return NULL;
	}
	ext = X509_EXTENSION_create_by_NID(NULL, nid, 0, os);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

/* Build, sign and parse the request the recipe describes. */
static void
generate(const uint8_t *data, size_t size)
{
	struct recipe r = { data, size };
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	X509_EXTENSION *ext;
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	uint8_t b[256];
	size_t n;
	int len, steps;

	if ((req = X509_REQ_new()) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (gens = GENERAL_NAMES_new()) == NULL ||
	    !X509_REQ_set_version(req, 0) || !X509_REQ_set_pubkey(req, key))
		goto done;
	for (steps = 0; r.n > 0 && steps < 200; steps++) {
		switch (take(&r) % 8) {
		case 0:
		case 1:
			add_challenge(req, &r);
			break;
		case 2:
		case 3:
			add_subject(req, &r);
			break;
		case 4:
		case 5:
			add_san(gens, &r);
			break;
		case 6:
			/* a SAN or other extension of raw bytes */
			if ((ext = raw_ext(take(&r) & 1 ? NID_subject_alt_name :
			    NID_basic_constraints, &r)) != NULL &&
			    !sk_X509_EXTENSION_push(exts, ext))
				X509_EXTENSION_free(ext);
			break;
		default:
			/* an extensionRequest attribute of raw bytes */
			n = take_bytes(&r, b, sizeof(b));
			X509_REQ_add1_attr_by_NID(req, take(&r) & 1 ?
			    NID_ext_req : NID_ms_ext_req, V_ASN1_OCTET_STRING,
			    b, (int)n);
			break;
		}
	}
	if (sk_GENERAL_NAME_num(gens) > 0 &&
	    (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) != NULL &&
	    !sk_X509_EXTENSION_push(exts, ext))
		X509_EXTENSION_free(ext);
	if (sk_X509_EXTENSION_num(exts) > 0)
		X509_REQ_add_extensions(req, exts);
	if (X509_REQ_sign(req, key, NULL) <= 0 ||
	    (len = i2d_X509_REQ(req, &der)) <= 0)
		goto done;
	parse(der, (size_t)len);
done:
	OPENSSL_free(der);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	ERR_clear_error();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		fprintf(stderr, "fuzz_csr: cannot make an Ed25519 key\n");
		exit(2);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size);
	if (size > 0 && (data[0] == 0x30 || is_pem(data, size)))
		resign(data, size);
	else
		generate(data, size);
	return 0;
}
