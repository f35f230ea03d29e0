#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"

static const char *const san_names[] = {
	[PF_SAN_RFC822] = "rfc822Name",
	[PF_SAN_DNS] = "dNSName",
	[PF_SAN_URI] = "uniformResourceIdentifier",
	[PF_SAN_UPN] = "ntPrincipalName",
};

const char *
pf_san_type_name(enum pf_san_type t)
{
	if ((size_t)t >= sizeof(san_names) / sizeof(san_names[0]))
		return "?";
	return san_names[t];
}

int
pf_san_type_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
		if (strcmp(name, san_names[i]) == 0)
			return (int)i;
	return -1;
}

/* A data error that never quotes the input; drops OpenSSL's queue. */
static struct pf_error *
bad(const char *msg)
{
	ERR_clear_error();
	return pf_error_fmt(PF_EX_DATAERR, "%s", msg);
}

/* DER p[0..len) as exactly one request, nothing after it. */
static struct pf_error *
load_der(const unsigned char *p, size_t len, X509_REQ **req)
{
	const unsigned char *q = p;

	*req = d2i_X509_REQ(NULL, &q, (long)len);
	if (*req == NULL)
		return bad("malformed request");
	if (q != p + len) {
		X509_REQ_free(*req);
		*req = NULL;
		return bad("malformed request: data after the request");
	}
	return NULL;
}

/* The first PEM block of p[0..len), which must be a request. */
static struct pf_error *
load_pem(const unsigned char *p, size_t len, X509_REQ **req)
{
	struct pf_error *err = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;

	*req = NULL;
	if ((bio = BIO_new_mem_buf(p, (int)len)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
		err = bad("malformed request: bad PEM");
		goto done;
	}
	if (strcmp(name, "CERTIFICATE REQUEST") != 0 &&
	    strcmp(name, "NEW CERTIFICATE REQUEST") != 0) {
		err = bad("malformed request: PEM block is not a certificate "
		    "request");
		goto done;
	}
	if (header[0] != '\0') {
		err = bad("malformed request: PEM headers");
		goto done;
	}
	err = load_der(data, (size_t)dlen, req);
done:
	if (data != NULL)
		OPENSSL_cleanse(data, (size_t)dlen);	/* holds the challenge */
	OPENSSL_free(data);
	OPENSSL_free(name);
	OPENSSL_free(header);
	BIO_free(bio);
	ERR_clear_error();
	return err;
}

/* Copy s[0..n) into a fresh NUL-terminated buffer. */
static struct pf_error *
copy_value(const unsigned char *s, size_t n, char **out, size_t *outlen)
{
	if (n > PF_CSR_MAX_VALUE)
		return bad("malformed request: value too long");
	if ((*out = malloc(n + 1)) == NULL)
		return pf_error_nomem();
	if (n > 0)
		memcpy(*out, s, n);
	(*out)[n] = '\0';
	*outlen = n;
	return NULL;
}

static struct pf_error *
get_challenge(X509_REQ *req, struct pf_csr *csr)
{
	struct pf_error *err = NULL;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	ASN1_STRING *s;
	unsigned char *u = NULL;
	const unsigned char *src;
	int idx, n;

	idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
	if (idx < 0)
		return NULL;
	if (X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword,
	    idx) >= 0)
		return bad("more than one challengePassword");
	if ((attr = X509_REQ_get_attr(req, idx)) == NULL ||
	    X509_ATTRIBUTE_count(attr) != 1 ||
	    (t = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL)
		return bad("malformed challengePassword");
	switch (t->type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_T61STRING:
	case V_ASN1_VISIBLESTRING:
		s = t->value.asn1_string;
		src = s->data;
		n = s->length;
		break;
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
		s = t->value.asn1_string;
		if ((n = ASN1_STRING_to_UTF8(&u, s)) < 0)
			return bad("malformed challengePassword");
		src = u;
		break;
	default:
		return bad("malformed challengePassword");
	}
	if (n > PF_CSR_MAX_CHALLENGE)
		err = bad("challengePassword longer than 255 bytes");
	else if ((csr->challenge = malloc((size_t)n + 1)) == NULL)
		err = pf_error_nomem();
	else {
		if (n > 0)
			memcpy(csr->challenge, src, (size_t)n);
		csr->challenge_len = (size_t)n;
	}
	/* The request's own copy of the secret goes too. */
	if (s->data != NULL && s->length > 0)
		OPENSSL_cleanse(s->data, (size_t)s->length);
	if (u != NULL) {
		OPENSSL_cleanse(u, (size_t)n);
		OPENSSL_free(u);
	}
	return err;
}

static struct pf_error *
get_subject(X509_REQ *req, struct pf_csr *csr)
{
	const X509_NAME *name;
	const X509_NAME_ENTRY *e;
	const ASN1_OBJECT *obj;
	struct pf_error *err;
	unsigned char *u;
	int i, n, r, nid;

	if ((name = X509_REQ_get_subject_name(req)) == NULL)
		return NULL;
	if ((n = X509_NAME_entry_count(name)) <= 0)
		return NULL;
	if (n > PF_CSR_MAX_ENTRIES)
		return bad("malformed request: too many subject attributes");
	if ((csr->rdns = calloc((size_t)n, sizeof(*csr->rdns))) == NULL)
		return pf_error_nomem();
	for (i = 0; i < n; i++) {
		struct pf_csr_rdn *rdn = &csr->rdns[i];

		if ((e = X509_NAME_get_entry(name, i)) == NULL ||
		    (obj = X509_NAME_ENTRY_get_object(e)) == NULL)
			return bad("malformed subject");
		r = OBJ_obj2txt(rdn->oid, sizeof(rdn->oid), obj, 1);
		if (r <= 0 || (size_t)r >= sizeof(rdn->oid))
			return bad("malformed subject: attribute type");
		nid = OBJ_obj2nid(obj);
		rdn->sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
		rdn->set = X509_NAME_ENTRY_set(e);
		u = NULL;
		if ((r = ASN1_STRING_to_UTF8(&u,
		    X509_NAME_ENTRY_get_data(e))) < 0)
			return bad("malformed subject: attribute value");
		err = copy_value(u, (size_t)r, &rdn->value, &rdn->len);
		OPENSSL_free(u);
		if (err != NULL)
			return err;
		csr->nrdns++;
	}
	return NULL;
}

static struct pf_error *
get_san(X509_REQ *req, struct pf_csr *csr)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	struct pf_error *err = NULL;
	int i, n, crit = -1;

	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		/* Absent is fine; present but broken is not. */
		if (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
		    X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0)
			err = bad("malformed extensionRequest");
		goto done;
	}
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		if (crit != -1)
			err = bad(crit == -2 ? "more than one subjectAltName" :
			    "malformed subjectAltName");
		goto done;
	}
	if ((n = sk_GENERAL_NAME_num(gens)) <= 0)
		goto done;
	if (n > PF_CSR_MAX_ENTRIES) {
		err = bad("malformed request: too many subjectAltName entries");
		goto done;
	}
	if ((csr->sans = calloc((size_t)n, sizeof(*csr->sans))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s = NULL;
		struct pf_csr_san *san = &csr->sans[csr->nsans];

		switch (gn->type) {
		case GEN_EMAIL:
			san->type = PF_SAN_RFC822;
			s = gn->d.rfc822Name;
			break;
		case GEN_DNS:
			san->type = PF_SAN_DNS;
			s = gn->d.dNSName;
			break;
		case GEN_URI:
			san->type = PF_SAN_URI;
			s = gn->d.uniformResourceIdentifier;
			break;
		case GEN_OTHERNAME:
			if (OBJ_obj2nid(gn->d.otherName->type_id) !=
			    NID_ms_upn)
				break;
			if (gn->d.otherName->value == NULL ||
			    gn->d.otherName->value->type !=
			    V_ASN1_UTF8STRING) {
				err = bad("malformed subjectAltName: "
				    "ntPrincipalName is not a UTF8String");
				goto done;
			}
			san->type = PF_SAN_UPN;
			s = gn->d.otherName->value->value.utf8string;
			break;
		default:
			break;
		}
		if (s == NULL) {
			csr->nsans_other++;
			continue;
		}
		if ((err = copy_value(ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s), &san->value, &san->len)) !=
		    NULL)
			goto done;
		csr->nsans++;
	}
done:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return err;
}

static struct pf_error *
key_fingerprint(X509_REQ *req, struct pf_csr *csr)
{
	unsigned char *der = NULL;
	X509_PUBKEY *pub;
	int n;

	if ((pub = X509_REQ_get_X509_PUBKEY(req)) == NULL ||
	    (n = i2d_X509_PUBKEY(pub, &der)) <= 0)
		return bad("malformed request: public key");
	pf_sha256_hex(der, (size_t)n, csr->key_sha256);
	OPENSSL_free(der);
	return NULL;
}

struct pf_error *
pf_csr_parse(const uint8_t *p, size_t len, struct pf_csr **out)
{
	struct pf_csr *csr = NULL;
	struct pf_error *err = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pkey;
	size_t i;

	*out = NULL;
	if (len == 0)
		return bad("empty request");
	if (len > PF_CSR_MAX_BYTES)
		return pf_error_fmt(PF_EX_DATAERR, "request larger than %d "
		    "bytes", PF_CSR_MAX_BYTES);
	for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' ||
	    p[i] == '\r' || p[i] == '\n'); i++)
		;
	if (len - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0)
		err = load_pem(p, len, &req);
	else
		err = load_der(p, len, &req);
	if (err != NULL)
		goto done;

	if ((pkey = X509_REQ_get0_pubkey(req)) == NULL) {
		err = bad("malformed request: public key");
		goto done;
	}
	if (X509_REQ_verify(req, pkey) != 1) {
		err = bad("bad request signature");
		goto done;
	}
	if ((csr = calloc(1, sizeof(*csr))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((err = key_fingerprint(req, csr)) != NULL ||
	    (err = get_challenge(req, csr)) != NULL ||
	    (err = get_subject(req, csr)) != NULL ||
	    (err = get_san(req, csr)) != NULL)
		goto done;
	*out = csr;
	csr = NULL;
done:
	pf_csr_free(csr);
	X509_REQ_free(req);
	ERR_clear_error();
	return err;
}

void
pf_csr_free(struct pf_csr *csr)
{
	size_t i;

	if (csr == NULL)
		return;
	if (csr->challenge != NULL) {
		OPENSSL_cleanse(csr->challenge, csr->challenge_len);
		free(csr->challenge);
	}
	for (i = 0; i < csr->nrdns; i++)
		free(csr->rdns[i].value);
	free(csr->rdns);
	for (i = 0; i < csr->nsans; i++)
		free(csr->sans[i].value);
	free(csr->sans);
	free(csr);
}
