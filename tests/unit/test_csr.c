/*
 * Unit tests for batch/csr.c: DER and PEM requests, the challengePassword
 * in its string types, subject and subjectAltName extraction, the key
 * fingerprint, and refusal of broken, oversized, truncated, altered and
 * garbage input without a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "csr.h"
#include "mkcsr.h"
#include "t.h"

static EVP_PKEY *key;		/* P-256, made once */

static const char *const subj_full[] = {
	"C", "PT", "O", "Example", "OU", "Sales", "CN", "Ana Lima \xc3\xbc",
	"emailAddress", "ana@example.com", "1.2.3.4.5", "custom", NULL
};
static const char san_full[] = "email:ana@example.com,DNS:ana.example.com,"
    "URI:https://example.com/ana,"
    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
    "IP:192.0.2.1";

static const struct pf_csr_rdn *
rdn(const struct pf_csr *c, const char *oid)
{
	size_t i;

	for (i = 0; i < c->nrdns; i++)
		if (strcmp(c->rdns[i].oid, oid) == 0)
			return &c->rdns[i];
	return NULL;
}

static int
has_san(const struct pf_csr *c, enum pf_san_type t, const char *v)
{
	size_t i;

	for (i = 0; i < c->nsans; i++)
		if (c->sans[i].type == t && c->sans[i].len == strlen(v) &&
		    memcmp(c->sans[i].value, v, c->sans[i].len) == 0)
			return 1;
	return 0;
}

static void
full(unsigned char **der, size_t *len)
{
	struct mkcsr m = { .key = key, .subject = subj_full,
	    .san = san_full, .challenge = "s3cret-Challenge_1" };

	mkcsr_der(&m, der, len);
}

/* Everything the verifier needs, from a DER request. */
static void
test_der_full(void)
{
	struct pf_csr *c = NULL;
	const struct pf_csr_rdn *r;
	unsigned char *der;
	size_t len;
	char want[65];

	full(&der, &len);
	T_OK(pf_csr_parse(der, len, &c));
	T_CHECK(c->challenge != NULL && c->challenge_len == 18 &&
	    memcmp(c->challenge, "s3cret-Challenge_1", 18) == 0);
	T_CHECK(c->nrdns == 6);
	T_CHECK((r = rdn(c, "2.5.4.3")) != NULL && r->sn != NULL &&
	    strcmp(r->sn, "CN") == 0 && strcmp(r->value, "Ana Lima \xc3\xbc") == 0);
	T_CHECK((r = rdn(c, "2.5.4.10")) != NULL && strcmp(r->sn, "O") == 0 &&
	    strcmp(r->value, "Example") == 0);
	T_CHECK((r = rdn(c, "1.2.840.113549.1.9.1")) != NULL &&
	    strcmp(r->sn, "emailAddress") == 0 &&
	    strcmp(r->value, "ana@example.com") == 0);
	T_CHECK((r = rdn(c, "1.2.3.4.5")) != NULL && r->sn == NULL &&
	    strcmp(r->value, "custom") == 0);
	T_CHECK(c->rdns[0].set == 0 && c->rdns[5].set == 5);
	T_CHECK(c->nsans == 4 && c->nsans_other == 1);
	T_CHECK(has_san(c, PF_SAN_RFC822, "ana@example.com"));
	T_CHECK(has_san(c, PF_SAN_DNS, "ana.example.com"));
	T_CHECK(has_san(c, PF_SAN_URI, "https://example.com/ana"));
	T_CHECK(has_san(c, PF_SAN_UPN, "ana@corp.example"));
	mkcsr_key_sha256(key, want);
	T_CHECK(strcmp(c->key_sha256, want) == 0);
	pf_csr_free(c);
	free(der);
}

/* PEM with either label, leading blank lines, text after the block. */
static void
test_pem(void)
{
	static const char *const labels[] = { "CERTIFICATE REQUEST",
	    "NEW CERTIFICATE REQUEST" };
	struct pf_csr *c = NULL;
	unsigned char *der;
	char *pem, *buf;
	size_t len, plen, i;

	full(&der, &len);
	for (i = 0; i < 2; i++) {
		mkcsr_pem(der, len, labels[i], &pem, &plen);
		if ((buf = malloc(plen + 32)) == NULL)
			exit(2);
		memcpy(buf, "\n \r\n", 4);
		memcpy(buf + 4, pem, plen);
		memcpy(buf + 4 + plen, "trailing words\n", 15);
		c = NULL;
		T_OK(pf_csr_parse((uint8_t *)buf, plen + 19, &c));
		T_CHECK(c->challenge_len == 18 && c->nsans == 4);
		pf_csr_free(c);
		free(buf);
		free(pem);
	}
	/* A PEM block of another kind is refused. */
	mkcsr_pem(der, len, "CERTIFICATE", &pem, &plen);
	T_ERR(pf_csr_parse((uint8_t *)pem, plen, &c), PF_EX_DATAERR,
	    "not a certificate request");
	T_CHECK(c == NULL);
	free(pem);
	free(der);
}

static void
test_no_challenge(void)
{
	static const char *const subj[] = { "CN", "ana", NULL };
	struct mkcsr m = { .key = key, .subject = subj };
	struct pf_csr *c = NULL;
	unsigned char *der;
	size_t len;

	mkcsr_der(&m, &der, &len);
	T_OK(pf_csr_parse(der, len, &c));
	T_CHECK(c->challenge == NULL && c->challenge_len == 0);
	T_CHECK(c->nrdns == 1 && c->nsans == 0 && c->nsans_other == 0);
	pf_csr_free(c);
	free(der);
}

/* An empty subject and no extensions at all. */
static void
test_minimal(void)
{
	struct mkcsr m = { .key = key, .challenge = "x" };
	struct pf_csr *c = NULL;
	unsigned char *der;
	size_t len;

	mkcsr_der(&m, &der, &len);
	T_OK(pf_csr_parse(der, len, &c));
	T_CHECK(c->challenge_len == 1 && c->nrdns == 0 && c->nsans == 0);
	pf_csr_free(c);
	free(der);
}

/* The challenge in each string type a client may use. */
static void
test_challenge_types(void)
{
	static const struct {
		int type;
		const char *in;
		size_t inlen;
		const char *want;
	} cases[] = {
		{ MBSTRING_ASC, "abc-DEF_123", 0, "abc-DEF_123" },
		{ V_ASN1_UTF8STRING, "caf\xc3\xa9", 0, "caf\xc3\xa9" },
		{ V_ASN1_IA5STRING, "ia5@text", 0, "ia5@text" },
		{ V_ASN1_BMPSTRING, "\0a\0b\0c", 6, "abc" },
	};
	struct pf_csr *c;
	unsigned char *der;
	size_t len, i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mkcsr m = { .key = key, .challenge = cases[i].in,
		    .chtype = cases[i].type, .chlen = cases[i].inlen };

		mkcsr_der(&m, &der, &len);
		c = NULL;
		T_OK(pf_csr_parse(der, len, &c));
		T_CHECK(c->challenge_len == strlen(cases[i].want) &&
		    memcmp(c->challenge, cases[i].want,
		    c->challenge_len) == 0);
		pf_csr_free(c);
		free(der);
	}
}

static void
test_bad_challenge(void)
{
	struct mkcsr m = { .key = key, .challenge = "one", .twice = 1 };
	struct pf_csr *c = NULL;
	unsigned char *der;
	char longer[300];
	size_t len;

	mkcsr_der(&m, &der, &len);
	T_ERR(pf_csr_parse(der, len, &c), PF_EX_DATAERR,
	    "malformed challengePassword");
	free(der);

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	m.challenge = longer;
	m.twice = 0;
	m.chtype = V_ASN1_UTF8STRING;
	mkcsr_der(&m, &der, &len);
	T_ERR(pf_csr_parse(der, len, &c), PF_EX_DATAERR,
	    "longer than 255 bytes");
	T_CHECK(c == NULL);
	free(der);
}

/* A UPN must be a UTF8String; a second SAN extension is refused. */
static void
test_bad_san(void)
{
	struct mkcsr m = { .key = key, .challenge = "x",
	    .san = "otherName:1.3.6.1.4.1.311.20.2.3;IA5:ana@corp" };
	struct pf_csr *c = NULL;
	unsigned char *der;
	size_t len;

	mkcsr_der(&m, &der, &len);
	T_ERR(pf_csr_parse(der, len, &c), PF_EX_DATAERR, "ntPrincipalName");
	free(der);

	/* Other otherNames are counted, not kept. */
	m.san = "otherName:1.2.3.4;UTF8:x,email:a@b";
	mkcsr_der(&m, &der, &len);
	T_OK(pf_csr_parse(der, len, &c));
	T_CHECK(c->nsans == 1 && c->nsans_other == 1 &&
	    has_san(c, PF_SAN_RFC822, "a@b"));
	pf_csr_free(c);
	free(der);
}

static void
test_bad_signature(void)
{
	struct pf_csr *c = NULL;
	unsigned char *der;
	size_t len;

	full(&der, &len);
	der[len - 1] ^= 0x01;		/* inside the signature value */
	T_ERR(pf_csr_parse(der, len, &c), PF_EX_DATAERR,
	    "bad request signature");
	T_CHECK(c == NULL);
	der[len - 1] ^= 0x01;
	/* The challenge is signed too: change one of its characters. */
	{
		unsigned char *p = NULL;
		size_t i;

		for (i = 0; i + 6 <= len; i++)
			if (memcmp(der + i, "s3cret", 6) == 0)
				p = der + i;
		T_REQUIRE(p != NULL);
		p[0] = 'S';
		T_ERR(pf_csr_parse(der, len, &c), PF_EX_DATAERR,
		    "bad request signature");
	}
	free(der);
}

static void
test_sizes(void)
{
	struct pf_csr *c = NULL;
	unsigned char *der, *big;
	size_t len;

	T_ERR(pf_csr_parse((const uint8_t *)"", 0, &c), PF_EX_DATAERR,
	    "empty request");
	if ((big = calloc(1, PF_CSR_MAX_BYTES + 1)) == NULL)
		exit(2);
	T_ERR(pf_csr_parse(big, PF_CSR_MAX_BYTES + 1, &c), PF_EX_DATAERR,
	    "request larger than 65536 bytes");
	free(big);

	full(&der, &len);
	if ((big = malloc(len + 1)) == NULL)
		exit(2);
	memcpy(big, der, len);
	big[len] = 0;
	T_ERR(pf_csr_parse(big, len + 1, &c), PF_EX_DATAERR,
	    "data after the request");
	T_CHECK(c == NULL);
	free(big);
	free(der);
}

/* Every truncation and every single-byte change of a valid request is
 * refused (the signature covers it all), and nothing crashes. */
static void
test_mutations(void)
{
	struct pf_csr *c;
	struct pf_error *err;
	unsigned char *der;
	size_t len, i;
	int bit, accepted = 0, errors = 0;

	full(&der, &len);
	for (i = 0; i < len; i++) {
		c = NULL;
		err = pf_csr_parse(der, i, &c);
		if (err == NULL) {
			accepted++;
			pf_csr_free(c);
		} else
			errors += err->code == PF_EX_DATAERR;
		pf_error_free(err);
	}
	T_CHECK(accepted == 0);
	T_CHECK(errors == (int)len);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 3) {
			der[i] ^= (unsigned char)(1 << bit);
			c = NULL;
			err = pf_csr_parse(der, len, &c);
			if (err == NULL) {
				fprintf(stderr, "accepted with byte %zu bit "
				    "%d flipped\n", i, bit);
				accepted++;
				pf_csr_free(c);
			}
			pf_error_free(err);
			der[i] ^= (unsigned char)(1 << bit);
		}
	}
	T_CHECK(accepted == 0);
	free(der);
}

static void
test_garbage(void)
{
	static const char *const texts[] = {
		"-----BEGIN",
		"-----BEGIN CERTIFICATE REQUEST-----\n",
		"-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n"
		    "-----END CERTIFICATE REQUEST-----\n",
		"-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n"
		    "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n"
		    "AAAA\n-----END CERTIFICATE REQUEST-----\n",
		"\x30\x80",
		"\x30\x84\xff\xff\xff\xff",
		"\x30\x03\x02\x01\x01",
		"  \n\t",
	};
	struct pf_csr *c;
	struct pf_error *err;
	unsigned char buf[2048];
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		c = NULL;
		T_ERR(pf_csr_parse((const uint8_t *)texts[i],
		    strlen(texts[i]), &c), PF_EX_DATAERR, "malformed request");
		T_CHECK(c == NULL);
	}
	for (i = 0; i < 2000; i++) {
		size_t n = 1 + i % sizeof(buf);

		RAND_bytes(buf, (int)n);
		if (i % 2)
			buf[0] = 0x30;	/* a SEQUENCE, to get further */
		c = NULL;
		err = pf_csr_parse(buf, n, &c);
		T_CHECK(err != NULL && c == NULL);
		pf_error_free(err);
	}
}

/*
 * RSA and P-256, P-384 and P-521 keys are made from their parameters; any
 * other key is decoded by OpenSSL's X509_REQ.  (P-256 is test_der_full's.)  Both ways give the same
 * fingerprint and the same refusal of a changed signature.
 */
static void
test_key_types(void)
{
	static const char *const subj[] = { "CN", "carol", NULL };
	const char *names[] = { "ED25519", "RSA", "secp256k1", "P-384",
	    "P-521" };
	struct pf_csr *c = NULL;
	unsigned char *der;
	size_t len, i;
	char want[65];

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		EVP_PKEY *k = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, names[i]) :
		    i == 1 ? EVP_RSA_gen(2048) : EVP_EC_gen(names[i]);
		struct mkcsr m = { .key = k, .subject = subj,
		    .challenge = "k1", .pure = i == 0 };

		T_REQUIRE(k != NULL);
		mkcsr_der(&m, &der, &len);
		T_OK(pf_csr_parse(der, len, &c));
		mkcsr_key_sha256(k, want);
		T_CHECK(c != NULL && strcmp(c->key_sha256, want) == 0);
		T_CHECK(c != NULL && c->challenge_len == 2 &&
		    memcmp(c->challenge, "k1", 2) == 0);
		pf_csr_free(c);
		c = NULL;
		der[len - 1] ^= 0x01;	/* inside the signature value */
		T_ERR(pf_csr_parse(der, len, &c), PF_EX_DATAERR,
		    "bad request signature");
		T_CHECK(c == NULL);
		free(der);
		EVP_PKEY_free(k);
	}
}

static void
test_san_names(void)
{
	T_CHECK(pf_san_type_from_name("rfc822Name") == PF_SAN_RFC822);
	T_CHECK(pf_san_type_from_name("dNSName") == PF_SAN_DNS);
	T_CHECK(pf_san_type_from_name("uniformResourceIdentifier") ==
	    PF_SAN_URI);
	T_CHECK(pf_san_type_from_name("ntPrincipalName") == PF_SAN_UPN);
	T_CHECK(pf_san_type_from_name("iPAddress") == -1);
	T_CHECK(strcmp(pf_san_type_name(PF_SAN_UPN), "ntPrincipalName") == 0);
}

int
main(void)
{
	key = mkcsr_eckey();
	T_RUN(test_der_full);
	T_RUN(test_pem);
	T_RUN(test_no_challenge);
	T_RUN(test_minimal);
	T_RUN(test_challenge_types);
	T_RUN(test_bad_challenge);
	T_RUN(test_bad_san);
	T_RUN(test_bad_signature);
	T_RUN(test_sizes);
	T_RUN(test_mutations);
	T_RUN(test_garbage);
	T_RUN(test_key_types);
	T_RUN(test_san_names);
	EVP_PKEY_free(key);
	T_DONE();
}
