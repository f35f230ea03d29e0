#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"

/*
 * A PKCS#10 request as OpenSSL's X509_REQ reads it, except that the
 * SubjectPublicKeyInfo stays an algorithm and bytes: OpenSSL 3 decodes a
 * request's key with its decoder framework, whose first use in a process
 * costs more than the rest of a verify-csr call.  RSA and EC keys are made
 * from their parameters instead (see verify_fast()); anything else is left
 * to X509_REQ.
 */
typedef struct {
	X509_ALGOR *alg;
	ASN1_BIT_STRING *key;
} PF_SPKI;

typedef struct {
	ASN1_ENCODING enc;		/* the bytes the signature covers */
	ASN1_INTEGER *version;
	X509_NAME *subject;
	PF_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) *attrs;	/* NULL when absent */
} PF_REQ_INFO;

typedef struct {
	PF_REQ_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *sig;
} PF_REQ;

typedef struct {
	ASN1_INTEGER *n;
	ASN1_INTEGER *e;
} PF_RSA_PUB;

ASN1_SEQUENCE(PF_SPKI) = {
	ASN1_SIMPLE(PF_SPKI, alg, X509_ALGOR),
	ASN1_SIMPLE(PF_SPKI, key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(PF_SPKI)

ASN1_SEQUENCE_enc(PF_REQ_INFO, enc, NULL) = {
	ASN1_SIMPLE(PF_REQ_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(PF_REQ_INFO, subject, X509_NAME),
	ASN1_SIMPLE(PF_REQ_INFO, spki, PF_SPKI),
	/* required by the standard, but X509_REQ reads requests without */
	ASN1_IMP_SET_OF_OPT(PF_REQ_INFO, attrs, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END_ref(PF_REQ_INFO, PF_REQ_INFO)

ASN1_SEQUENCE(PF_REQ) = {
	ASN1_SIMPLE(PF_REQ, info, PF_REQ_INFO),
	ASN1_SIMPLE(PF_REQ, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(PF_REQ, sig, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(PF_REQ)

ASN1_SEQUENCE(PF_RSA_PUB) = {
	ASN1_SIMPLE(PF_RSA_PUB, n, ASN1_INTEGER),
	ASN1_SIMPLE(PF_RSA_PUB, e, ASN1_INTEGER)
} static_ASN1_SEQUENCE_END(PF_RSA_PUB)

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

/* The DER of the first PEM block of p[0..len), which must be a request;
 * *der is OpenSSL's (wipe it: it holds the challenge). */
static struct pf_error *
pem_der(const unsigned char *p, size_t len, unsigned char **der,
    long *derlen)
{
	struct pf_error *err = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;

	*der = NULL;
	*derlen = 0;
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
	*der = data;
	*derlen = dlen;
	data = NULL;
done:
	if (data != NULL)
		OPENSSL_cleanse(data, (size_t)dlen);
	OPENSSL_free(data);
	OPENSSL_free(name);
	OPENSSL_free(header);
	BIO_free(bio);
	ERR_clear_error();
	return err;
}

/* A key from its parameters ("RSA" or "EC"), or NULL. */
static EVP_PKEY *
key_from(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *pc;
	EVP_PKEY *pkey = NULL;

	if ((pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(pc);
	return pkey;
}

/* An rsaEncryption key: RSAPublicKey { n, e } in the bit string. */
static EVP_PKEY *
rsa_key(const PF_SPKI *spki)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	const unsigned char *q = spki->key->data;
	PF_RSA_PUB *rp;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	int ptype;

	X509_ALGOR_get0(&obj, &ptype, &pval, spki->alg);
	if ((ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) ||
	    (spki->key->flags & 0x7) != 0 || q == NULL)
		return NULL;
	rp = (PF_RSA_PUB *)ASN1_item_d2i(NULL, &q, spki->key->length,
	    ASN1_ITEM_rptr(PF_RSA_PUB));
	if (rp == NULL || q != spki->key->data + spki->key->length ||
	    (n = ASN1_INTEGER_to_BN(rp->n, NULL)) == NULL ||
	    (e = ASN1_INTEGER_to_BN(rp->e, NULL)) == NULL ||
	    BN_is_negative(n) || BN_is_negative(e))
		goto done;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto done;
	pkey = key_from("RSA", params);
done:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	ASN1_item_free((ASN1_VALUE *)rp, ASN1_ITEM_rptr(PF_RSA_PUB));
	return pkey;
}

/* An id-ecPublicKey key on P-256, P-384 or P-521, as an uncompressed
 * point. */
static EVP_PKEY *
ec_key(const PF_SPKI *spki)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	OSSL_PARAM params[3];
	int ptype, nid, bytes;

	X509_ALGOR_get0(&obj, &ptype, &pval, spki->alg);
	if (ptype != V_ASN1_OBJECT || (spki->key->flags & 0x7) != 0)
		return NULL;
	switch ((nid = OBJ_obj2nid(pval))) {
	case NID_X9_62_prime256v1:
		bytes = 32;
		break;
	case NID_secp384r1:
		bytes = 48;
		break;
	case NID_secp521r1:
		bytes = 66;
		break;
	default:
		return NULL;
	}
	if (spki->key->length != 1 + 2 * bytes || spki->key->data[0] != 4)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)OBJ_nid2sn(nid), 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, spki->key->data,
	    (size_t)spki->key->length);
	params[2] = OSSL_PARAM_construct_end();
	return key_from("EC", params);
}

/*
 * 1 if the request's signature verifies with its key, for an RSA or EC
 * key and a signature algorithm that is a digest and that key type; 0 when
 * it does not, or for anything else: then X509_REQ decides.
 */
static int
verify_fast(const PF_REQ *req)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *tbs = NULL;
	int ptype, keynid, mdnid, pknid, n, ok = 0;

	if ((req->sig->flags & 0x7) != 0 ||
	    !OBJ_find_sigid_algs(OBJ_obj2nid(req->sig_alg->algorithm),
	    &mdnid, &pknid) || mdnid == NID_undef)
		return 0;
	X509_ALGOR_get0(&obj, &ptype, &pval, req->sig_alg);
	if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return 0;
	keynid = OBJ_obj2nid(req->info->spki->alg->algorithm);
	if (keynid != pknid)
		return 0;
	if (keynid == NID_rsaEncryption)
		pkey = rsa_key(req->info->spki);
	else if (keynid == NID_X9_62_id_ecPublicKey)
		pkey = ec_key(req->info->spki);
	if (pkey == NULL)
		goto done;
	n = ASN1_item_i2d((const ASN1_VALUE *)req->info, &tbs,
	    ASN1_ITEM_rptr(PF_REQ_INFO));
	if (n > 0 && (mctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit_ex(mctx, NULL, OBJ_nid2sn(mdnid), NULL,
	    NULL, pkey, NULL) == 1 &&
	    EVP_DigestVerify(mctx, req->sig->data, (size_t)req->sig->length,
	    tbs, (size_t)n) == 1)
		ok = 1;
	if (tbs != NULL)
		OPENSSL_cleanse(tbs, (size_t)n);	/* holds the challenge */
	OPENSSL_free(tbs);
done:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return ok;
}

/* Wipe the values of an attribute (a challengePassword holds the secret;
 * the others go too, as they are freed right after). */
static void
wipe_attr(X509_ATTRIBUTE *attr)
{
	ASN1_TYPE *t;
	int k;

	if (attr == NULL)
		return;
	for (k = 0; k < X509_ATTRIBUTE_count(attr); k++) {
		t = X509_ATTRIBUTE_get0_type(attr, k);
		if (t != NULL && t->type != V_ASN1_BOOLEAN &&
		    t->type != V_ASN1_NULL && t->type != V_ASN1_OBJECT &&
		    t->value.asn1_string != NULL &&
		    t->value.asn1_string->data != NULL)
			OPENSSL_cleanse(t->value.asn1_string->data,
			    (size_t)t->value.asn1_string->length);
	}
}

static void
wipe_attrs(const STACK_OF(X509_ATTRIBUTE) *attrs)
{
	int i;

	for (i = 0; i < X509at_get_attr_count(attrs); i++)
		wipe_attr(X509at_get_attr(attrs, i));
}

/* The signature of der[0..len), which holds req: verify_fast() or, where
 * it cannot tell, OpenSSL's X509_REQ. */
static struct pf_error *
verify(const PF_REQ *req, const unsigned char *der, size_t len)
{
	struct pf_error *err = NULL;
	const unsigned char *q = der;
	X509_REQ *x;
	EVP_PKEY *pkey;
	int i;

	if (verify_fast(req))
		return NULL;
	if ((x = d2i_X509_REQ(NULL, &q, (long)len)) == NULL)
		return bad("malformed request");
	if ((pkey = X509_REQ_get0_pubkey(x)) == NULL)
		err = bad("malformed request: public key");
	else if (X509_REQ_verify(x, pkey) != 1)
		err = bad("bad request signature");
	for (i = 0; i < X509_REQ_get_attr_count(x); i++)
		wipe_attr(X509_REQ_get_attr(x, i));
	X509_REQ_free(x);
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
get_challenge(const STACK_OF(X509_ATTRIBUTE) *attrs, struct pf_csr *csr)
{
	struct pf_error *err = NULL;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	ASN1_STRING *s;
	unsigned char *u = NULL;
	const unsigned char *src;
	int idx, n;

	idx = X509at_get_attr_by_NID(attrs, NID_pkcs9_challengePassword, -1);
	if (idx < 0)
		return NULL;
	if (X509at_get_attr_by_NID(attrs, NID_pkcs9_challengePassword,
	    idx) >= 0)
		return bad("more than one challengePassword");
	if ((attr = X509at_get_attr(attrs, idx)) == NULL ||
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
get_subject(const X509_NAME *name, struct pf_csr *csr)
{
	const X509_NAME_ENTRY *e;
	const ASN1_OBJECT *obj;
	struct pf_error *err;
	unsigned char *u;
	int i, n, r, nid;

	if (name == NULL || (n = X509_NAME_entry_count(name)) <= 0)
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

/*
 * The requested extensions, as X509_REQ_get_extensions() finds them: the
 * first of the extensionRequest attributes (PKCS#9's, then Microsoft's),
 * its first value.  *exts is NULL when there is none.
 */
static struct pf_error *
get_extensions(const STACK_OF(X509_ATTRIBUTE) *attrs,
    STACK_OF(X509_EXTENSION) **exts)
{
	static const int nids[] = { NID_ext_req, NID_ms_ext_req };
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	const unsigned char *q;
	size_t i;
	int idx;

	*exts = NULL;
	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		if ((idx = X509at_get_attr_by_NID(attrs, nids[i], -1)) < 0)
			continue;
		if ((attr = X509at_get_attr(attrs, idx)) == NULL ||
		    (t = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL)
			return NULL;
		if (t->type != V_ASN1_SEQUENCE)
			return bad("malformed extensionRequest");
		q = t->value.sequence->data;
		if ((*exts = (STACK_OF(X509_EXTENSION) *)ASN1_item_d2i(NULL,
		    &q, t->value.sequence->length,
		    ASN1_ITEM_rptr(X509_EXTENSIONS))) == NULL)
			return bad("malformed extensionRequest");
		return NULL;
	}
	return NULL;
}

static struct pf_error *
get_san(const STACK_OF(X509_ATTRIBUTE) *attrs, struct pf_csr *csr)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	struct pf_error *err = NULL;
	int i, n, crit = -1;

	if ((err = get_extensions(attrs, &exts)) != NULL || exts == NULL)
		goto done;
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
key_fingerprint(const PF_SPKI *spki, struct pf_csr *csr)
{
	unsigned char *der = NULL;
	int n;

	if ((n = ASN1_item_i2d((const ASN1_VALUE *)spki, &der,
	    ASN1_ITEM_rptr(PF_SPKI))) <= 0)
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
	PF_REQ *req = NULL;
	unsigned char *pem = NULL;
	const unsigned char *der = p, *q;
	long pemlen = 0;
	size_t derlen = len, i;

	*out = NULL;
	if (len == 0)
		return bad("empty request");
	if (len > PF_CSR_MAX_BYTES)
		return pf_error_fmt(PF_EX_DATAERR, "request larger than %d "
		    "bytes", PF_CSR_MAX_BYTES);
	for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' ||
	    p[i] == '\r' || p[i] == '\n'); i++)
		;
	if (len - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0) {
		if ((err = pem_der(p, len, &pem, &pemlen)) != NULL)
			goto done;
		der = pem;
		derlen = (size_t)pemlen;
	}
	q = der;
	req = (PF_REQ *)ASN1_item_d2i(NULL, &q, (long)derlen,
	    ASN1_ITEM_rptr(PF_REQ));
	if (req == NULL) {
		err = bad("malformed request");
		goto done;
	}
	if (q != der + derlen) {
		err = bad("malformed request: data after the request");
		goto done;
	}
	if ((err = verify(req, der, derlen)) != NULL)
		goto done;
	if ((csr = calloc(1, sizeof(*csr))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((err = key_fingerprint(req->info->spki, csr)) != NULL ||
	    (err = get_challenge(req->info->attrs, csr)) != NULL ||
	    (err = get_subject(req->info->subject, csr)) != NULL ||
	    (err = get_san(req->info->attrs, csr)) != NULL)
		goto done;
	*out = csr;
	csr = NULL;
done:
	pf_csr_free(csr);
	if (req != NULL && req->info->attrs != NULL)
		wipe_attrs(req->info->attrs);
	ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(PF_REQ));
	if (pem != NULL)
		OPENSSL_cleanse(pem, (size_t)pemlen);	/* holds the challenge */
	OPENSSL_free(pem);
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
