/*
 * Certificate requests for the unit tests, made with OpenSSL's C API.
 * Functions are static inline so a test that uses only some of them
 * compiles without warnings.
 */
#ifndef PF_MKCSR_H
#define PF_MKCSR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A request to build: NULL fields are left out. */
struct mkcsr {
	EVP_PKEY *key;			/* borrowed; signs the request */
	const char *const *subject;	/* "CN", "ana", "O", "Example", NULL */
	const char *san;		/* openssl config syntax:
					   "email:a@b,DNS:h,URI:u,otherName:..." */
	const char *challenge;		/* NUL-terminated */
	int chtype;			/* attribute type for challenge, e.g.
					   MBSTRING_ASC (default when 0),
					   V_ASN1_UTF8STRING, V_ASN1_BMPSTRING */
	size_t chlen;			/* bytes of challenge (0: strlen) */
	int twice;			/* the attribute holds the value twice
					   (a SET of two) */
	int pure;			/* signed without a digest (Ed25519) */
};

static inline EVP_PKEY *
mkcsr_eckey(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (k == NULL) {
		fprintf(stderr, "EVP_EC_gen failed\n");
		exit(2);
	}
	return k;
}

/* The request as DER in *der (malloc'd), its length in *len. */
static inline void
mkcsr_der(const struct mkcsr *m, unsigned char **der, size_t *len)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	X509_REQ *req;
	X509_NAME *name;
	unsigned char *buf = NULL;
	size_t i;
	int n, type;

	if ((req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_pubkey(req, m->key))
		goto fail;
	name = X509_REQ_get_subject_name(req);
	for (i = 0; m->subject != NULL && m->subject[i] != NULL; i += 2)
		if (!X509_NAME_add_entry_by_txt(name, m->subject[i],
		    MBSTRING_UTF8, (const unsigned char *)m->subject[i + 1],
		    -1, -1, 0))
			goto fail;
	if (m->challenge != NULL) {
		type = m->chtype ? m->chtype : MBSTRING_ASC;
		n = m->chlen ? (int)m->chlen : (int)strlen(m->challenge);
		X509_ATTRIBUTE *a = X509_ATTRIBUTE_create_by_NID(NULL,
		    NID_pkcs9_challengePassword, type, m->challenge, n);

		if (a == NULL || (m->twice && !X509_ATTRIBUTE_set1_data(a,
		    type, m->challenge, n)) || !X509_REQ_add1_attr(req, a))
			goto fail;
		X509_ATTRIBUTE_free(a);
	}
	if (m->san != NULL) {
		if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
		    (ext = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, m->san)) == NULL)
			goto fail;
		if (!sk_X509_EXTENSION_push(exts, ext)) {
			X509_EXTENSION_free(ext);
			goto fail;
		}
		if (!X509_REQ_add_extensions(req, exts))
			goto fail;
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		exts = NULL;
	}
	if (!X509_REQ_sign(req, m->key, m->pure ? NULL : EVP_sha256()) ||
	    (n = i2d_X509_REQ(req, &buf)) <= 0)
		goto fail;
	if ((*der = malloc((size_t)n)) == NULL)
		goto fail;
	memcpy(*der, buf, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(buf);
	X509_REQ_free(req);
	return;
fail:
	fprintf(stderr, "cannot make a test request\n");
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* DER request to PEM, with the given label; *pem malloc'd. */
static inline void
mkcsr_pem(const unsigned char *der, size_t len, const char *label,
    char **pem, size_t *pemlen)
{
	BIO *b;
	char *p;
	long n;

	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio(b, label, "", der, (long)len) ||
	    (n = BIO_get_mem_data(b, &p)) <= 0 ||
	    (*pem = malloc((size_t)n + 1)) == NULL) {
		fprintf(stderr, "cannot make PEM\n");
		exit(2);
	}
	memcpy(*pem, p, (size_t)n);
	(*pem)[n] = '\0';
	*pemlen = (size_t)n;
	BIO_free(b);
}

/* Hex SHA-256 of the key's SubjectPublicKeyInfo DER, computed
 * independently of batch/csr.c. */
static inline void
mkcsr_key_sha256(EVP_PKEY *key, char out[65])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int n, i;

	n = i2d_PUBKEY(key, &der);
	if (n <= 0 || !EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(),
	    NULL)) {
		fprintf(stderr, "cannot hash the key\n");
		exit(2);
	}
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
}

#endif
