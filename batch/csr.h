/*
 * csr: parse one PKCS#10 certificate request (DER, or PEM when the bytes
 * start with "-----BEGIN") from a byte buffer, check its self-signature,
 * and extract what verify-csr decides on: the challengePassword, the
 * subject, the subjectAltName of the extensionRequest and the public key's
 * fingerprint.  The input is untrusted: every size is bounded, and any byte
 * sequence gives either a parsed request or an error, never a crash.
 */
#ifndef PF_CSR_H
#define PF_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define PF_CSR_MAX_BYTES	(64 * 1024)	/* whole request */
#define PF_CSR_MAX_ENTRIES	64	/* subject attributes, SAN entries */
#define PF_CSR_MAX_VALUE	4096	/* bytes of one subject or SAN value */
#define PF_CSR_MAX_CHALLENGE	255	/* PKCS#9 ub-challenge-password */
#define PF_CSR_OID_MAX		128	/* dotted OID text, NUL included */

/* One attribute of the subject, in the order of the request. */
struct pf_csr_rdn {
	char oid[PF_CSR_OID_MAX];	/* dotted OID, "2.5.4.3" */
	const char *sn;			/* OpenSSL short name ("CN"), static,
					   or NULL for an OID OpenSSL does not
					   know */
	int set;			/* index of the RDN (SET) it sits in */
	char *value;			/* malloc'd UTF-8, NUL-terminated */
	size_t len;			/* bytes of value (may hold NULs) */
};

/* The subjectAltName types verify-csr binds. */
enum pf_san_type {
	PF_SAN_RFC822,		/* rfc822Name */
	PF_SAN_DNS,		/* dNSName */
	PF_SAN_URI,		/* uniformResourceIdentifier */
	PF_SAN_UPN,		/* otherName 1.3.6.1.4.1.311.20.2.3, UTF8String */
};

struct pf_csr_san {
	enum pf_san_type type;
	char *value;		/* malloc'd, NUL-terminated */
	size_t len;		/* bytes of value (may hold NULs) */
};

struct pf_csr {
	uint8_t *challenge;	/* malloc'd raw bytes, or NULL: no attribute;
				   wiped by pf_csr_free */
	size_t challenge_len;
	struct pf_csr_rdn *rdns;	/* malloc'd array */
	size_t nrdns;
	struct pf_csr_san *sans;	/* malloc'd array */
	size_t nsans;
	size_t nsans_other;	/* SAN entries of other types, not kept */
	char key_sha256[PF_SHA256_HEX];	/* hex SHA-256 of the
					   SubjectPublicKeyInfo DER */
};

/*
 * Parse p[0..len) as one certificate request and verify its signature with
 * the key it carries.  *out is owned by the caller (pf_csr_free).  Errors
 * are PF_EX_DATAERR with a short message that never quotes the input:
 * "request larger than 65536 bytes", "malformed request",
 * "bad request signature", "malformed challengePassword", ...; out of
 * memory is PF_EX_SOFTWARE.  Safe on any input; leaves OpenSSL's error
 * queue empty.
 */
struct pf_error *pf_csr_parse(const uint8_t *p, size_t len,
    struct pf_csr **out);

/* Wipe the challenge and free everything; NULL-safe. */
void pf_csr_free(struct pf_csr *csr);

/* Name of a SAN type as the SCEP payload spells it ("rfc822Name"). */
const char *pf_san_type_name(enum pf_san_type t);
/* The type for a SCEP payload SubjectAltName key; -1 when unknown. */
int pf_san_type_from_name(const char *name);

#endif
