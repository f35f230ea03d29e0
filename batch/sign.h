/*
 * sign: the signer (certificate, private key, chain) and CMS signing of
 * profiles.  A struct pf_signer is loaded and checked once, then shared
 * read-only by all threads; each thread signs through its own
 * struct pf_sign_ctx.
 */
#ifndef PF_SIGN_H
#define PF_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "error.h"

struct pf_signer;
struct pf_sign_ctx;

struct pf_signer_opts {
	const char *cert_path;	/* PEM signer certificate (required) */
	const char *key_path;	/* PEM private key, RSA or EC (required) */
	const char *chain_path;	/* PEM intermediates, signer's issuer first;
				 * NULL for none */
	const char *key_pass;	/* "env:VAR", "file:PATH" or NULL */
	time_t now;		/* time to check validity against */
	long long warn_secs;	/* warn when the signer expires within this
				 * many seconds (30 days by default) */
};

/*
 * Load and check the signer: files readable and PEM (PF_EX_NOINPUT when a
 * file is missing, PF_EX_CONFIG otherwise), key decrypts (passphrase from
 * key_pass, wiped after use; an encrypted key without key_pass is
 * PF_EX_CONFIG), key matches the certificate, certificate within its
 * validity at opts->now, keyUsage (when present) allows digitalSignature,
 * each chain certificate issued and signed by the next, the first by the
 * signer's issuer.  Expiry within warn_secs goes to warn.  Every message
 * names the file.  On success *out is owned by the caller.
 */
struct pf_error *pf_signer_load(struct pf_signer **out,
    const struct pf_signer_opts *opts, const struct pf_warn *warn);
void pf_signer_free(struct pf_signer *s);

/* Lowercase hex SHA-256 of the signer certificate's DER (static in s). */
const char *pf_signer_fingerprint(const struct pf_signer *s);
/* One-line RFC 2253 subject (owned by s). */
const char *pf_signer_subject(const struct pf_signer *s);
time_t pf_signer_not_after(const struct pf_signer *s);
/* "RSA-2048", "EC-P-256", ... (owned by s). */
const char *pf_signer_keytype(const struct pf_signer *s);

/* Seconds since the epoch of an ASN1_TIME (NULL or unreadable: 0). */
int pf_asn1_time(const ASN1_TIME *at, time_t *out);
/* One-line RFC 2253 form of a name (controls and non-ASCII escaped);
 * malloc'd, or NULL when out of memory. */
char *pf_x509_name(const X509_NAME *nm);

/*
 * A per-thread signing context: whatever OpenSSL objects can be fetched or
 * prepared once (digest, key references) are held here.  s must outlive it.
 */
struct pf_error *pf_sign_ctx_new(struct pf_sign_ctx **out,
    const struct pf_signer *s);
void pf_sign_ctx_free(struct pf_sign_ctx *c);

/*
 * Sign data as a DER CMS SignedData: content embedded byte for byte,
 * SHA-256, signer certificate and every chain certificate included.
 * *der is malloc'd and owned by the caller.  Errors: PF_EX_SOFTWARE with
 * the OpenSSL reason.
 */
struct pf_error *pf_sign(struct pf_sign_ctx *c, const void *data,
    size_t len, uint8_t **der, size_t *derlen);

#endif
