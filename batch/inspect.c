/*
 * inspect: check a profile as a device would and describe it.
 *
 * A signed profile is checked step by step, so that a failure can be told
 * precisely: the signer certificate is found among the certificates the
 * profile carries; the signature over the signed attributes verifies with
 * its key (CMS_SignerInfo_verify); the content's SHA-256 matches the
 * signed messageDigest (CMS_SignerInfo_verify_content); the signer is
 * within its validity; with trusted roots, X509_verify_cert builds the
 * chain from the profile's certificates to one of them.  When every step
 * passed, CMS_verify() must agree, so that nothing OpenSSL's own
 * verification would refuse is called verified.
 *
 * The content (or a bare file) must be an XML plist; it goes through the
 * template prescan before libplist sees it.  Binary plists are refused:
 * profiles are XML, and libplist 2.2's binary parser recurses without a
 * bound.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <plist/plist.h>

#include "error.h"
#include "inspect.h"
#include "sign.h"
#include "template.h"
#include "util.h"

#define PF_DAY		86400
#define WALK_DEPTH	64	/* above what the prescan lets through */
#define SCEP_TYPE	"com.apple.security.scep"

enum check {
	CHECK_NONE,		/* not done: nothing to check it with */
	CHECK_OK,
	CHECK_FAIL,
};

struct cert_facts {
	char *subject;		/* RFC 2253, malloc'd */
	char *issuer;		/* RFC 2253, malloc'd */
	char *serial;		/* uppercase hex, malloc'd */
	char key[80];		/* "RSA-2048", "EC-P-256", ... */
	char sha256[PF_SHA256_HEX];	/* of the DER, lowercase hex */
	time_t not_before;
	time_t not_after;
	int times_ok;		/* both times could be read */
	int from_ca;		/* chain: a root from the --ca file */
};

struct signer {
	int have_cert;		/* the profile carries its certificate */
	struct cert_facts cert;
	int have_time;
	time_t signing_time;	/* signingTime attribute */
	enum check signature;	/* over the signed attributes */
	enum check digest;	/* content against messageDigest */
	enum check validity;	/* notBefore <= now <= notAfter */
	enum check chain;	/* to a root of the --ca file */
	char *chain_why;	/* malloc'd, when chain is CHECK_FAIL */
	struct cert_facts *path;	/* malloc'd: the verified chain */
	size_t npath;
};

struct payload {
	int is_dict;		/* else the item is not a dictionary */
	const char *type;	/* the strings are borrowed from the tree; */
	const char *identifier;	/* NULL when absent or not a string */
	const char *uuid;
	const char *name;	/* PayloadDisplayName */
	plist_t scep;		/* SCEP payload: its PayloadContent dict */
};

struct ref {
	size_t from;		/* index of the payload holding the key */
	char *path;		/* key path inside that payload, malloc'd */
	const char *uuid;	/* borrowed from the tree */
	size_t to;		/* payload whose PayloadUUID it is */
	int dangling;		/* no payload has that PayloadUUID */
};

struct pf_inspection {
	char *label;		/* malloc'd */
	char *ca_label;		/* malloc'd, or NULL without --ca */
	time_t now;
	size_t bytes;		/* of the file */
	int is_signed;
	size_t content_bytes;	/* the embedded plist */
	size_t ncerts;		/* certificates the profile carries */
	struct signer *signers;	/* malloc'd */
	size_t nsigners;
	char **problems;	/* malloc'd strings: why not verified */
	size_t nproblems;
	char **notes;		/* malloc'd strings: odd but not fatal */
	size_t nnotes;
	enum pf_verdict_kind verdict;
	char *content_error;	/* malloc'd, or NULL */

	plist_t root;		/* owned: the parsed profile */
	plist_t *secrets;	/* malloc'd: Challenge nodes, wiped at free */
	size_t nsecrets;
	const char *type;	/* top-level strings, borrowed from root */
	const char *identifier;
	const char *name;
	const char *uuid;
	struct payload *payloads;	/* malloc'd */
	size_t npayloads;
	struct ref *refs;	/* malloc'd */
	size_t nrefs;
};

/* Append a malloc'd copy of a formatted string to a list. */
static struct pf_error *
list_add(char ***list, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct pf_error *
list_add(char ***list, size_t *n, const char *fmt, ...)
{
	char **l, *s;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return pf_error_fmt(PF_EX_SOFTWARE, "bad format");
	if ((s = malloc((size_t)len + 1)) == NULL)
		return pf_error_nomem();
	if ((l = reallocarray(*list, *n + 1, sizeof(*l))) == NULL) {
		free(s);
		return pf_error_nomem();
	}
	*list = l;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	l[(*n)++] = s;
	return NULL;
}

/* The reason of the last OpenSSL error into buf; clears the queue. */
static const char *
ssl_reason(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	const char *r;

	if (e == 0)
		snprintf(buf, n, "unknown reason");
	else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, n, "%s", r);
	else
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

/* " (reason)" of the last OpenSSL error, or "" for OpenSSL's generic
 * "verification failure", which adds nothing; clears the queue. */
static const char *
ssl_detail(char *buf, size_t n)
{
	char r[200];

	ssl_reason(r, sizeof(r));
	if (strcmp(r, "verification failure") == 0 ||
	    strcmp(r, "unknown reason") == 0)
		buf[0] = '\0';
	else
		snprintf(buf, n, " (%s)", r);
	return buf;
}

static void
key_desc(X509 *x, char *out, size_t n)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64];
	const char *nist = NULL;
	int nid;

	if (pk == NULL)
		snprintf(out, n, "unknown");
	else if (EVP_PKEY_is_a(pk, "RSA"))
		snprintf(out, n, "RSA-%d", EVP_PKEY_get_bits(pk));
	else if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL)) {
			nid = OBJ_txt2nid(group);
			nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
			snprintf(out, n, "EC-%s", nist != NULL ? nist : group);
		} else
			snprintf(out, n, "EC");
	} else
		snprintf(out, n, "%s-%d", EVP_PKEY_get0_type_name(pk),
		    EVP_PKEY_get_bits(pk));
	ERR_clear_error();
}

static void
facts_clear(struct cert_facts *f)
{
	free(f->subject);
	free(f->issuer);
	free(f->serial);
	memset(f, 0, sizeof(*f));
}

static struct pf_error *
facts_of(X509 *x, struct cert_facts *f)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	memset(f, 0, sizeof(f[0]));
	f->subject = pf_x509_name(X509_get_subject_name(x));
	f->issuer = pf_x509_name(X509_get_issuer_name(x));
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
	    NULL && (hex = BN_bn2hex(bn)) != NULL)
		f->serial = pf_strdup(hex);
	OPENSSL_free(hex);
	BN_free(bn);
	if (f->subject == NULL || f->issuer == NULL || f->serial == NULL) {
		facts_clear(f);
		ERR_clear_error();
		return pf_error_nomem();
	}
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != PF_SHA256_LEN) {
		facts_clear(f);
		return pf_error_ssl(PF_EX_SOFTWARE, "certificate digest");
	}
	pf_hex(md, mdlen, f->sha256);
	key_desc(x, f->key, sizeof(f->key));
	f->times_ok = pf_asn1_time(X509_get0_notBefore(x), &f->not_before) &&
	    pf_asn1_time(X509_get0_notAfter(x), &f->not_after);
	return NULL;
}

/*
 * The roots of a PEM file: every self-signed certificate.  The others go
 * to *others (for a hint when a chain breaks).  Errors are PF_EX_CONFIG.
 */
static struct pf_error *
load_roots(const struct pf_inspect_opts *o, STACK_OF(X509) **roots,
    STACK_OF(X509) **others)
{
	struct pf_error *err = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	unsigned long e;
	int n = 0;

	*roots = sk_X509_new_null();
	*others = sk_X509_new_null();
	if (*roots == NULL || *others == NULL)
		return pf_error_nomem();
	if (o->ca_len > INT32_MAX)
		return pf_error_fmt(PF_EX_CONFIG, "%s: too large",
		    o->ca_label);
	if ((bio = BIO_new_mem_buf(o->ca_pem, (int)o->ca_len)) == NULL)
		return pf_error_ssl(PF_EX_SOFTWARE, "%s", o->ca_label);
	for (;;) {
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x == NULL) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			err = pf_error_ssl(PF_EX_CONFIG, "%s: certificate %d",
			    o->ca_label, n + 1);
			goto done;
		}
		n++;
		if (!sk_X509_push(X509_self_signed(x, 1) == 1 ? *roots :
		    *others, x)) {
			err = pf_error_nomem();
			goto done;
		}
		x = NULL;
	}
	ERR_clear_error();
	if (n == 0)
		err = pf_error_fmt(PF_EX_CONFIG, "%s: no PEM certificate found",
		    o->ca_label);
	else if (sk_X509_num(*roots) == 0)
		err = pf_error_fmt(PF_EX_CONFIG, "%s: %s a root "
		    "(self-signed); a device trusts roots, so give the root "
		    "the chain must reach", o->ca_label, n == 1 ?
		    "its certificate is not" : "none of its certificates is");
done:
	X509_free(x);
	BIO_free(bio);
	return err;
}

static int
in_stack(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0)
			return 1;
	return 0;
}

/* A certificate of sk whose subject is nm, or NULL. */
static X509 *
find_subject(STACK_OF(X509) *sk, const X509_NAME *nm)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_NAME_cmp(X509_get_subject_name(sk_X509_value(sk, i)),
		    nm) == 0)
			return sk_X509_value(sk, i);
	return NULL;
}

/* Build and verify sg's chain: X509_verify_cert with the profile's
 * certificates as untrusted intermediates and the roots as anchors. */
static struct pf_error *
check_chain(struct pf_inspection *in, struct signer *sg, X509 *x,
    STACK_OF(X509) *certs, X509_STORE *store, STACK_OF(X509) *roots,
    STACK_OF(X509) *others)
{
	struct pf_error *err = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *chain;
	struct pf_buf why = { 0 };
	X509 *cur, *c;
	char *subj = NULL, *iss = NULL;
	int i, e;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, store, x, certs)) {
		err = pf_error_ssl(PF_EX_SOFTWARE, "certificate store");
		goto done;
	}
	if (X509_verify_cert(ctx) == 1) {
		chain = X509_STORE_CTX_get0_chain(ctx);
		sg->npath = 0;
		if ((sg->path = calloc((size_t)sk_X509_num(chain) + 1,
		    sizeof(*sg->path))) == NULL) {
			err = pf_error_nomem();
			goto done;
		}
		for (i = 0; i < sk_X509_num(chain); i++) {
			c = sk_X509_value(chain, i);
			if ((err = facts_of(c, &sg->path[i])) != NULL)
				goto done;
			sg->npath++;
			sg->path[i].from_ca = in_stack(roots, c);
		}
		sg->chain = CHECK_OK;
		goto done;
	}
	e = X509_STORE_CTX_get_error(ctx);
	cur = X509_STORE_CTX_get_current_cert(ctx);
	if (cur == NULL)
		cur = x;
	subj = pf_x509_name(X509_get_subject_name(cur));
	iss = pf_x509_name(X509_get_issuer_name(cur));
	if (subj == NULL || iss == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
		if ((err = pf_buf_printf(&why, "%s: its issuer %s is neither "
		    "in the profile nor a root in %s", subj, iss,
		    in->ca_label)) != NULL)
			goto done;
		if (find_subject(others, X509_get_issuer_name(cur)) != NULL)
			err = pf_buf_printf(&why, " (%s holds it, but not as a "
			    "root: a device trusts roots only, so the profile "
			    "must carry the intermediates)", in->ca_label);
		else if (in->ncerts <= 1)
			err = pf_buf_printf(&why, " (the profile carries only "
			    "the signer certificate: was it signed without "
			    "--chain?)");
	} else
		err = pf_buf_printf(&why, "%s: %s", subj,
		    X509_verify_cert_error_string(e));
	if (err != NULL)
		goto done;
	sg->chain = CHECK_FAIL;
	sg->chain_why = why.data;
	memset(&why, 0, sizeof(why));
	/* an expired or not yet valid signer is told once */
	if (X509_STORE_CTX_get_error_depth(ctx) != 0 ||
	    sg->validity != CHECK_FAIL ||
	    (e != X509_V_ERR_CERT_HAS_EXPIRED &&
	    e != X509_V_ERR_CERT_NOT_YET_VALID))
		err = list_add(&in->problems, &in->nproblems, "the chain does "
		    "not verify: %s", sg->chain_why);
done:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	pf_buf_free(&why);
	free(subj);
	free(iss);
	return err;
}

static void
signing_time(CMS_SignerInfo *si, struct signer *sg)
{
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	int idx;

	idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	if (idx < 0 || (a = CMS_signed_get_attr(si, idx)) == NULL ||
	    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL)
		return;
	if (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME)
		return;
	sg->have_time = pf_asn1_time(t->value.asn1_string, &sg->signing_time);
}

/* Read the content through the digest BIOs CMS_dataInit() sets up. */
static int
digest_content(BIO *bio)
{
	uint8_t buf[4096];
	int r;

	while ((r = BIO_read(bio, buf, sizeof(buf))) > 0)
		;
	OPENSSL_cleanse(buf, sizeof(buf));
	return r == 0;
}

static struct pf_error *
check_signer(struct pf_inspection *in, CMS_SignerInfo *si, size_t idx,
    BIO *dbio, X509_STORE *store, STACK_OF(X509) *certs,
    STACK_OF(X509) *roots, STACK_OF(X509) *others)
{
	struct signer *sg = &in->signers[idx];
	struct pf_error *err;
	char who[32], iso[32], reason[256];
	X509 *x = NULL;
	int with_attrs;

	who[0] = '\0';
	if (in->nsigners > 1)
		snprintf(who, sizeof(who), "signer %zu: ", idx + 1);
	CMS_SignerInfo_get0_algs(si, NULL, &x, NULL, NULL);
	if (x == NULL)
		return list_add(&in->problems, &in->nproblems, "%sthe signer "
		    "certificate is not in the profile", who);
	sg->have_cert = 1;
	if ((err = facts_of(x, &sg->cert)) != NULL)
		return err;
	signing_time(si, sg);

	with_attrs = CMS_signed_get_attr_count(si) >= 0;
	if (with_attrs) {
		sg->signature = CMS_SignerInfo_verify(si) == 1 ? CHECK_OK :
		    CHECK_FAIL;
		if (sg->signature == CHECK_FAIL &&
		    (err = list_add(&in->problems, &in->nproblems, "%sthe "
		    "signature does not verify with the signer's key%s",
		    who, ssl_detail(reason, sizeof(reason)))) != NULL)
			return err;
	}
	if (dbio != NULL) {
		sg->digest = CMS_SignerInfo_verify_content(si, dbio) == 1 ?
		    CHECK_OK : CHECK_FAIL;
		if (!with_attrs)
			sg->signature = sg->digest;
		if (sg->digest == CHECK_FAIL && (err = list_add(&in->problems,
		    &in->nproblems, with_attrs ? "%sthe content digest does "
		    "not match the signed one: the profile was changed after "
		    "it was signed%s" : "%sthe signature over the content "
		    "does not verify%s", who,
		    ssl_detail(reason, sizeof(reason)))) != NULL)
			return err;
	}
	ERR_clear_error();

	sg->validity = CHECK_FAIL;
	if (!sg->cert.times_ok)
		err = list_add(&in->problems, &in->nproblems, "%sthe signer "
		    "certificate has an unreadable validity period", who);
	else if (in->now > sg->cert.not_after) {
		pf_time_iso(sg->cert.not_after, iso, sizeof(iso));
		err = list_add(&in->problems, &in->nproblems, "%sthe signer "
		    "certificate expired on %s", who, iso);
	} else if (in->now < sg->cert.not_before) {
		pf_time_iso(sg->cert.not_before, iso, sizeof(iso));
		err = list_add(&in->problems, &in->nproblems, "%sthe signer "
		    "certificate is not valid before %s", who, iso);
	} else
		sg->validity = CHECK_OK;
	if (err != NULL)
		return err;
	/* as `run` demands of its signer (RFC 5280, 4.2.1.3) */
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE) &&
	    (err = list_add(&in->problems, &in->nproblems, "%sthe signer "
	    "certificate's key usage does not allow digitalSignature",
	    who)) != NULL)
		return err;

	if (store != NULL)
		return check_chain(in, sg, x, certs, store, roots, others);
	return NULL;
}

/*
 * The signature checks of a parsed SignedData; *content and *clen point
 * at the embedded content (inside cms).  Errors: PF_EX_DATAERR when there
 * is no embedded content.
 */
static struct pf_error *
check_cms(struct pf_inspection *in, CMS_ContentInfo *cms, X509_STORE *store,
    STACK_OF(X509) *roots, STACK_OF(X509) *others, const char **content,
    size_t *clen)
{
	struct pf_error *err = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL;
	ASN1_OCTET_STRING **pos;
	BIO *dbio = NULL;
	char reason[256];
	int nid, i;

	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid != NID_pkcs7_signed)
		return pf_error_fmt(PF_EX_DATAERR, "%s: CMS %s, not SignedData: "
		    "not a signed profile", in->label, nid == NID_undef ?
		    "of an unknown type" : OBJ_nid2ln(nid));
	pos = CMS_get0_content(cms);
	if (pos == NULL || *pos == NULL)
		return pf_error_fmt(PF_EX_DATAERR, "%s: a detached signature: "
		    "the profile is not inside it", in->label);
	*content = (const char *)ASN1_STRING_get0_data(*pos);
	*clen = (size_t)ASN1_STRING_length(*pos);
	in->content_bytes = *clen;
	nid = OBJ_obj2nid(CMS_get0_eContentType(cms));
	if (nid != NID_pkcs7_data && (err = list_add(&in->problems,
	    &in->nproblems, "the signed content's type is %s, not data",
	    nid == NID_undef ? "unknown" : OBJ_nid2ln(nid))) != NULL)
		return err;

	certs = CMS_get1_certs(cms);
	in->ncerts = certs != NULL ? (size_t)sk_X509_num(certs) : 0;
	sis = CMS_get0_SignerInfos(cms);
	in->nsigners = sis != NULL ? (size_t)sk_CMS_SignerInfo_num(sis) : 0;
	if (in->nsigners == 0) {
		err = list_add(&in->problems, &in->nproblems, "no signer");
		goto done;
	}
	if ((in->signers = calloc(in->nsigners, sizeof(*in->signers))) ==
	    NULL) {
		err = pf_error_nomem();
		goto done;
	}
	/* finds each signer's certificate among the profile's */
	(void)CMS_set1_signers_certs(cms, NULL, 0);
	ERR_clear_error();
	if ((dbio = CMS_dataInit(cms, NULL)) == NULL ||
	    !digest_content(dbio)) {
		if ((err = list_add(&in->problems, &in->nproblems, "cannot "
		    "digest the content (%s)", ssl_reason(reason,
		    sizeof(reason)))) != NULL)
			goto done;
		BIO_free_all(dbio);
		dbio = NULL;
	}
	for (i = 0; i < (int)in->nsigners; i++)
		if ((err = check_signer(in, sk_CMS_SignerInfo_value(sis, i),
		    (size_t)i, dbio, store, certs, roots, others)) != NULL)
			goto done;

	/* OpenSSL's own verification must agree. */
	if (in->nproblems == 0 && CMS_verify(cms, NULL, store, NULL, NULL,
	    CMS_BINARY | (store == NULL ? CMS_NO_SIGNER_CERT_VERIFY : 0)) !=
	    1)
		err = list_add(&in->problems, &in->nproblems, "CMS_verify "
		    "refuses the profile (%s)", ssl_reason(reason,
		    sizeof(reason)));
done:
	ERR_clear_error();
	BIO_free_all(dbio);
	sk_X509_pop_free(certs, X509_free);
	return err;
}

/* The string value of dict[key], or NULL when absent or not a string. */
static const char *
sval(plist_t dict, const char *key)
{
	plist_t n = plist_dict_get_item(dict, key);

	if (n == NULL || plist_get_node_type(n) != PLIST_STRING)
		return NULL;
	return plist_get_string_ptr(n, NULL);
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static struct pf_error *
add_ref(struct pf_inspection *in, size_t from, const struct pf_buf *path,
    plist_t v)
{
	struct ref *r;
	char *p;

	if (plist_get_node_type(v) != PLIST_STRING)
		return list_add(&in->notes, &in->nnotes, "PayloadContent[%zu]"
		    ".%s is not a string", from, path->data);
	if ((p = pf_strdup(path->data)) == NULL)
		return pf_error_nomem();
	if ((r = reallocarray(in->refs, in->nrefs + 1, sizeof(*r))) == NULL) {
		free(p);
		return pf_error_nomem();
	}
	in->refs = r;
	r = &in->refs[in->nrefs++];
	memset(r, 0, sizeof(*r));
	r->from = from;
	r->path = p;
	r->uuid = plist_get_string_ptr(v, NULL);
	return NULL;
}

/*
 * Collect the references to other payloads below node: values of keys
 * that end in "CertificateUUID" (PayloadCertificateUUID,
 * IdentityCertificateUUID, ...) and the strings of arrays under keys that
 * end in "CertificateAnchorUUID".  path holds node's key path.
 */
static struct pf_error *
walk_refs(struct pf_inspection *in, size_t from, plist_t node,
    struct pf_buf *path, int depth)
{
	struct pf_error *err = NULL;
	plist_dict_iter it = NULL;
	plist_type ty = plist_get_node_type(node);
	uint32_t i, n;
	size_t saved = path->len;

	if (depth > WALK_DEPTH)
		return NULL;
	if (ty == PLIST_ARRAY) {
		n = plist_array_get_size(node);
		for (i = 0; i < n && err == NULL; i++) {
			plist_t v = plist_array_get_item(node, i);

			if ((err = pf_buf_printf(path, "[%u]", i)) == NULL)
				err = walk_refs(in, from, v, path, depth + 1);
			path->len = saved;
			path->data[saved] = '\0';
		}
		return err;
	}
	if (ty != PLIST_DICT)
		return NULL;
	plist_dict_new_iter(node, &it);
	if (it == NULL)
		return pf_error_nomem();
	for (;;) {
		char *key = NULL;
		plist_t v = NULL;

		plist_dict_next_item(node, it, &key, &v);
		if (key == NULL || v == NULL) {
			free(key);
			break;
		}
		err = pf_buf_printf(path, "%s%s", saved > 0 ? "." : "", key);
		if (err == NULL && ends_with(key, "CertificateUUID"))
			err = add_ref(in, from, path, v);
		else if (err == NULL && ends_with(key,
		    "CertificateAnchorUUID") &&
		    plist_get_node_type(v) == PLIST_ARRAY) {
			size_t base = path->len;

			n = plist_array_get_size(v);
			for (i = 0; i < n && err == NULL; i++) {
				if ((err = pf_buf_printf(path, "[%u]", i)) ==
				    NULL)
					err = add_ref(in, from, path,
					    plist_array_get_item(v, i));
				path->len = base;
				path->data[base] = '\0';
			}
		} else if (err == NULL && ends_with(key,
		    "CertificateAnchorUUID"))
			err = add_ref(in, from, path, v);
		else if (err == NULL)
			err = walk_refs(in, from, v, path, depth + 1);
		free(key);
		if (path->data != NULL) {
			path->len = saved;
			path->data[saved] = '\0';
		}
		if (err != NULL)
			break;
	}
	free(it);
	return err;
}

struct uuid_idx {
	const char *uuid;
	size_t payload;
};

static int
uuid_cmp(const void *a, const void *b)
{
	const struct uuid_idx *x = a, *y = b;
	int c = strcmp(x->uuid, y->uuid);

	if (c != 0)
		return c;
	return (x->payload > y->payload) - (x->payload < y->payload);
}

/* Point every reference at the payload with its PayloadUUID; note
 * PayloadUUIDs that several payloads share. */
static struct pf_error *
resolve_refs(struct pf_inspection *in)
{
	struct pf_error *err = NULL;
	struct uuid_idx *ix = NULL, key, *hit;
	size_t i, n = 0, lo, hi, mid;

	if ((ix = calloc(in->npayloads + 1, sizeof(*ix))) == NULL)
		return pf_error_nomem();
	for (i = 0; i < in->npayloads; i++) {
		if (in->payloads[i].uuid == NULL)
			continue;
		ix[n].uuid = in->payloads[i].uuid;
		ix[n++].payload = i;
	}
	qsort(ix, n, sizeof(*ix), uuid_cmp);
	for (i = 1; i < n && err == NULL; i++)
		if (strcmp(ix[i - 1].uuid, ix[i].uuid) == 0)
			err = list_add(&in->notes, &in->nnotes,
			    "PayloadContent[%zu] and PayloadContent[%zu] have "
			    "the same PayloadUUID %s", ix[i - 1].payload,
			    ix[i].payload, ix[i].uuid);
	for (i = 0; i < in->nrefs && err == NULL; i++) {
		key.uuid = in->refs[i].uuid;
		/* the first payload with that UUID */
		lo = 0;
		hi = n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(ix[mid].uuid, key.uuid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		hit = lo < n && strcmp(ix[lo].uuid, key.uuid) == 0 ? &ix[lo] :
		    NULL;
		if (hit == NULL)
			in->refs[i].dangling = 1;
		else
			in->refs[i].to = hit->payload;
	}
	free(ix);
	return err;
}

static struct pf_error *
read_payloads(struct pf_inspection *in)
{
	struct pf_error *err = NULL;
	struct pf_buf path = { 0 };
	plist_t pc, item, ch;
	uint32_t i, n;

	in->type = sval(in->root, "PayloadType");
	in->identifier = sval(in->root, "PayloadIdentifier");
	in->name = sval(in->root, "PayloadDisplayName");
	in->uuid = sval(in->root, "PayloadUUID");
	pc = plist_dict_get_item(in->root, "PayloadContent");
	if (pc == NULL)
		return NULL;
	if (plist_get_node_type(pc) != PLIST_ARRAY)
		return list_add(&in->notes, &in->nnotes,
		    "PayloadContent is not an array");
	n = plist_array_get_size(pc);
	if ((in->payloads = calloc((size_t)n + 1, sizeof(*in->payloads))) ==
	    NULL || (in->secrets = calloc((size_t)n + 1,
	    sizeof(*in->secrets))) == NULL)
		return pf_error_nomem();
	for (i = 0; i < n; i++) {
		struct payload *p = &in->payloads[i];

		in->npayloads++;
		item = plist_array_get_item(pc, i);
		if (item == NULL || plist_get_node_type(item) != PLIST_DICT)
			continue;
		p->is_dict = 1;
		p->type = sval(item, "PayloadType");
		p->identifier = sval(item, "PayloadIdentifier");
		p->uuid = sval(item, "PayloadUUID");
		p->name = sval(item, "PayloadDisplayName");
		if (p->type != NULL && strcmp(p->type, SCEP_TYPE) == 0) {
			p->scep = plist_dict_get_item(item, "PayloadContent");
			if (p->scep != NULL &&
			    plist_get_node_type(p->scep) != PLIST_DICT)
				p->scep = NULL;
		}
		if (p->scep != NULL && (ch = plist_dict_get_item(p->scep,
		    "Challenge")) != NULL &&
		    plist_get_node_type(ch) == PLIST_STRING)
			in->secrets[in->nsecrets++] = ch;
		path.len = 0;
		if ((err = pf_buf_add(&path, "", 0)) != NULL ||
		    (err = walk_refs(in, i, item, &path, 0)) != NULL)
			break;
	}
	pf_buf_free(&path);
	if (err == NULL)
		err = resolve_refs(in);
	return err;
}

/*
 * Parse xml[0..len) as the profile.  A plist that is not usable sets *why
 * (malloc'd) and returns NULL; errors are out of memory only.
 */
static struct pf_error *
parse_profile(struct pf_inspection *in, const char *label, const char *xml,
    size_t len, char **why)
{
	struct pf_error *err;
	plist_t root = NULL, type;
	const char *s;
	size_t i;

	*why = NULL;
	if (len >= 3 && memcmp(xml, "\xef\xbb\xbf", 3) == 0) {
		xml += 3;
		len -= 3;
	}
	if (len >= 6 && memcmp(xml, "bplist", 6) == 0) {
		*why = pf_strdup("a binary plist: profiles are XML (convert "
		    "it with plistutil -f xml)");
		return *why == NULL ? pf_error_nomem() : NULL;
	}
	for (i = 0; i < len && (xml[i] == ' ' || xml[i] == '\t' ||
	    xml[i] == '\r' || xml[i] == '\n'); i++)
		;
	if (i == len || xml[i] != '<' || len > UINT32_MAX) {
		*why = pf_strdup("not an XML plist");
		return *why == NULL ? pf_error_nomem() : NULL;
	}
	if ((err = pf_plist_prescan(label, xml, len)) != NULL) {
		if (err->code != PF_EX_DATAERR)
			return err;
		*why = pf_strdup(err->msg);
		pf_error_free(err);
		return *why == NULL ? pf_error_nomem() : NULL;
	}
	plist_from_memory(xml, (uint32_t)len, &root);
	if (root == NULL) {
		*why = pf_strdup("not a valid XML plist");
		return *why == NULL ? pf_error_nomem() : NULL;
	}
	if (plist_get_node_type(root) != PLIST_DICT) {
		plist_free(root);
		*why = pf_strdup("the top level is not a dictionary");
		return *why == NULL ? pf_error_nomem() : NULL;
	}
	type = plist_dict_get_item(root, "PayloadType");
	if (type == NULL || plist_get_node_type(type) != PLIST_STRING ||
	    (s = plist_get_string_ptr(type, NULL)) == NULL ||
	    strcmp(s, "Configuration") != 0) {
		plist_free(root);
		*why = pf_strdup("its top-level PayloadType is not "
		    "\"Configuration\"");
		return *why == NULL ? pf_error_nomem() : NULL;
	}
	in->root = root;
	return read_payloads(in);
}

struct pf_error *
pf_inspect(struct pf_inspection **out, const uint8_t *data, size_t len,
    const struct pf_inspect_opts *o)
{
	struct pf_error *err = NULL;
	struct pf_inspection *in = NULL;
	STACK_OF(X509) *roots = NULL, *others = NULL;
	X509_STORE *store = NULL;
	X509_VERIFY_PARAM *param;
	CMS_ContentInfo *cms = NULL;
	ASN1_OCTET_STRING **pos;
	const unsigned char *p;
	const char *content = NULL;
	char label[PF_ERRMSG_MAX / 2], reason[256], *why = NULL;
	size_t clen = 0;
	int i;

	*out = NULL;
	if ((in = calloc(1, sizeof(*in))) == NULL ||
	    (in->label = pf_strdup(o->label != NULL ? o->label : "profile")) ==
	    NULL || (o->ca_pem != NULL && (in->ca_label = pf_strdup(
	    o->ca_label != NULL ? o->ca_label : "CA")) == NULL)) {
		err = pf_error_nomem();
		goto done;
	}
	in->now = o->now;
	in->bytes = len;

	if (o->ca_pem != NULL) {
		if ((err = load_roots(o, &roots, &others)) != NULL)
			goto done;
		if ((store = X509_STORE_new()) == NULL) {
			err = pf_error_nomem();
			goto done;
		}
		for (i = 0; i < sk_X509_num(roots); i++)
			if (!X509_STORE_add_cert(store, sk_X509_value(roots,
			    i))) {
				err = pf_error_ssl(PF_EX_SOFTWARE, "%s",
				    in->ca_label);
				goto done;
			}
		param = X509_STORE_get0_param(store);
		X509_VERIFY_PARAM_set_time(param, o->now);
		if (!X509_STORE_set_purpose(store, X509_PURPOSE_ANY)) {
			err = pf_error_ssl(PF_EX_SOFTWARE, "purpose");
			goto done;
		}
	}

	if (len > 0 && data[0] == 0x30) {
		p = data;
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
		if (cms == NULL) {
			err = pf_error_fmt(PF_EX_DATAERR, "%s: neither a signed "
			    "profile (DER CMS: %s) nor an XML plist",
			    in->label, ssl_reason(reason, sizeof(reason)));
			goto done;
		}
		if (p != data + len) {
			err = pf_error_fmt(PF_EX_DATAERR, "%s: %zu bytes after "
			    "the signed data", in->label,
			    len - (size_t)(p - data));
			goto done;
		}
		in->is_signed = 1;
		if ((err = check_cms(in, cms, store, roots, others, &content,
		    &clen)) != NULL)
			goto done;
		snprintf(label, sizeof(label), "%s: signed content",
		    in->label);
		if ((err = parse_profile(in, label, content, clen, &why)) !=
		    NULL)
			goto done;
		in->content_error = why;
		why = NULL;
	} else {
		if ((err = parse_profile(in, in->label, (const char *)data,
		    len, &why)) != NULL)
			goto done;
		if (why != NULL) {
			err = pf_error_fmt(PF_EX_DATAERR, "%s: neither a signed "
			    "profile (DER CMS) nor an XML plist: %s",
			    in->label, why);
			goto done;
		}
	}

	if (!in->is_signed)
		in->verdict = PF_VERDICT_UNSIGNED;
	else if (in->nproblems > 0)
		in->verdict = PF_VERDICT_FAILED;
	else if (store != NULL)
		in->verdict = PF_VERDICT_VERIFIED;
	else
		in->verdict = PF_VERDICT_SIGNATURE;
	*out = in;
	in = NULL;
done:
	free(why);
	if (cms != NULL) {
		/* the content holds the challenge */
		pos = CMS_get0_content(cms);
		if (pos != NULL && *pos != NULL &&
		    ASN1_STRING_length(*pos) > 0)
			OPENSSL_cleanse((void *)(uintptr_t)
			    ASN1_STRING_get0_data(*pos),
			    (size_t)ASN1_STRING_length(*pos));
		CMS_ContentInfo_free(cms);
	}
	X509_STORE_free(store);
	sk_X509_pop_free(roots, X509_free);
	sk_X509_pop_free(others, X509_free);
	pf_inspection_free(in);
	ERR_clear_error();
	return err;
}

void
pf_inspection_free(struct pf_inspection *in)
{
	size_t i;

	if (in == NULL)
		return;
	/* libplist hands out a const pointer to its own string memory */
	for (i = 0; i < in->nsecrets; i++) {
		uint64_t n = 0;
		const char *s = plist_get_string_ptr(in->secrets[i], &n);

		if (s != NULL && n > 0)
			OPENSSL_cleanse((void *)(uintptr_t)s, (size_t)n);
	}
	if (in->root != NULL)
		plist_free(in->root);
	for (i = 0; i < in->nsigners; i++) {
		size_t j;

		facts_clear(&in->signers[i].cert);
		free(in->signers[i].chain_why);
		for (j = 0; j < in->signers[i].npath; j++)
			facts_clear(&in->signers[i].path[j]);
		free(in->signers[i].path);
	}
	free(in->signers);
	for (i = 0; i < in->nproblems; i++)
		free(in->problems[i]);
	free(in->problems);
	for (i = 0; i < in->nnotes; i++)
		free(in->notes[i]);
	free(in->notes);
	for (i = 0; i < in->nrefs; i++)
		free(in->refs[i].path);
	free(in->refs);
	free(in->payloads);
	free(in->secrets);
	free(in->content_error);
	free(in->label);
	free(in->ca_label);
	free(in);
}

enum pf_verdict_kind
pf_inspection_verdict(const struct pf_inspection *in)
{
	return in->verdict;
}

size_t
pf_inspection_nproblems(const struct pf_inspection *in)
{
	return in->nproblems;
}

const char *
pf_inspection_problem(const struct pf_inspection *in, size_t i)
{
	return i < in->nproblems ? in->problems[i] : NULL;
}

const char *
pf_inspection_content_error(const struct pf_inspection *in)
{
	return in->content_error;
}

/*
 * Output.  A sticky writer: after the first error every call does
 * nothing, and the caller looks at o->err once at the end.
 */
struct out {
	struct pf_buf *b;		/* borrowed */
	struct pf_error *err;		/* first error, owned */
};

static void
o_add(struct out *o, const char *s, size_t n)
{
	if (o->err == NULL)
		o->err = pf_buf_add(o->b, s, n);
}

static void
o_str(struct out *o, const char *s)
{
	o_add(o, s, strlen(s));
}

/* For short trusted text only: numbers, labels, times, hex. */
static void
o_fmt(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
o_fmt(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	o_str(o, tmp);
}

/* Length of the UTF-8 character at p[0..n) and its code point; 0 when
 * the bytes there are not well-formed UTF-8. */
static size_t
utf8_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
is_control(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0);
}

/* s[0..n) for a terminal: controls as \n, \t, \r, \xNN or \uNNNN and
 * bytes that are not UTF-8 as \xNN; everything else as it is. */
static void
o_text(struct out *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0, k;
	uint32_t c;

	while (i < n) {
		k = utf8_char(p + i, n - i, &c);
		if (k != 0 && !is_control(c)) {
			i += k;
			continue;
		}
		o_add(o, s + start, i - start);
		if (k == 0)
			o_fmt(o, "\\x%02x", p[i]);
		else if (c == '\n')
			o_str(o, "\\n");
		else if (c == '\t')
			o_str(o, "\\t");
		else if (c == '\r')
			o_str(o, "\\r");
		else if (c < 0x80)
			o_fmt(o, "\\x%02x", (unsigned)c);
		else
			o_fmt(o, "\\u%04x", (unsigned)c);
		i += k != 0 ? k : 1;
		start = i;
	}
	o_add(o, s + start, n - start);
}

static void
o_textz(struct out *o, const char *s)
{
	o_text(o, s, strlen(s));
}

/* A JSON string literal: valid UTF-8 whatever s holds (a byte that is
 * not UTF-8 becomes U+FFFD), controls escaped. */
static void
o_jstr(struct out *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0, k;
	uint32_t c;

	o_add(o, "\"", 1);
	while (i < n) {
		k = utf8_char(p + i, n - i, &c);
		if (k != 0 && !is_control(c) && c != '"' && c != '\\') {
			i += k;
			continue;
		}
		o_add(o, s + start, i - start);
		if (k == 0)
			o_str(o, "\\ufffd");
		else if (c == '"')
			o_str(o, "\\\"");
		else if (c == '\\')
			o_str(o, "\\\\");
		else if (c == '\n')
			o_str(o, "\\n");
		else if (c == '\t')
			o_str(o, "\\t");
		else if (c == '\r')
			o_str(o, "\\r");
		else
			o_fmt(o, "\\u%04x", (unsigned)c);
		i += k != 0 ? k : 1;
		start = i;
	}
	o_add(o, s + start, n - start);
	o_add(o, "\"", 1);
}

/* A string or null. */
static void
o_jstrz(struct out *o, const char *s)
{
	if (s == NULL)
		o_str(o, "null");
	else
		o_jstr(o, s, strlen(s));
}

/* ",\"key\":" (without the comma for the first member). */
static void
j_key(struct out *o, int *first, const char *key)
{
	if (!*first)
		o_add(o, ",", 1);
	*first = 0;
	o_jstrz(o, key);
	o_add(o, ":", 1);
}

static void
j_str(struct out *o, int *first, const char *key, const char *v)
{
	j_key(o, first, key);
	o_jstrz(o, v);
}

static void
j_int(struct out *o, int *first, const char *key, long long v)
{
	j_key(o, first, key);
	o_fmt(o, "%lld", v);
}

static void
j_bool(struct out *o, int *first, const char *key, int v)
{
	j_key(o, first, key);
	o_str(o, v ? "true" : "false");
}

static void
j_time(struct out *o, int *first, const char *key, int have, time_t t)
{
	char iso[32];

	j_key(o, first, key);
	if (!have) {
		o_str(o, "null");
		return;
	}
	pf_time_iso(t, iso, sizeof(iso));
	o_jstrz(o, iso);
}

/* Any plist value as JSON (dates and data as null). */
static void
o_jplist(struct out *o, plist_t n, int depth)
{
	plist_dict_iter it = NULL;
	uint64_t u = 0, len = 0;
	uint8_t b = 0;
	double d = 0;
	const char *s;
	uint32_t i, cnt;
	int first = 1;

	if (n == NULL || depth > WALK_DEPTH) {
		o_str(o, "null");
		return;
	}
	switch (plist_get_node_type(n)) {
	case PLIST_STRING:
		s = plist_get_string_ptr(n, &len);
		o_jstr(o, s != NULL ? s : "", s != NULL ? (size_t)len : 0);
		break;
	case PLIST_UINT:
		plist_get_uint_val(n, &u);
		o_fmt(o, "%lld", (long long)(int64_t)u);
		break;
	case PLIST_BOOLEAN:
		plist_get_bool_val(n, &b);
		o_str(o, b ? "true" : "false");
		break;
	case PLIST_REAL:
		plist_get_real_val(n, &d);
		if (d == d && d - d == 0)
			o_fmt(o, "%.17g", d);
		else
			o_str(o, "null");
		break;
	case PLIST_ARRAY:
		o_add(o, "[", 1);
		cnt = plist_array_get_size(n);
		for (i = 0; i < cnt; i++) {
			if (i > 0)
				o_add(o, ",", 1);
			o_jplist(o, plist_array_get_item(n, i), depth + 1);
		}
		o_add(o, "]", 1);
		break;
	case PLIST_DICT:
		o_add(o, "{", 1);
		plist_dict_new_iter(n, &it);
		if (it == NULL) {
			if (o->err == NULL)
				o->err = pf_error_nomem();
			return;
		}
		for (;;) {
			char *key = NULL;
			plist_t v = NULL;

			plist_dict_next_item(n, it, &key, &v);
			if (key == NULL || v == NULL) {
				free(key);
				break;
			}
			j_key(o, &first, key);
			free(key);
			o_jplist(o, v, depth + 1);
		}
		free(it);
		o_add(o, "}", 1);
		break;
	default:
		o_str(o, "null");
		break;
	}
}

/* A plist value for people: strings as text, the rest as JSON. */
static void
o_tplist(struct out *o, plist_t n)
{
	uint64_t len = 0;
	const char *s;

	if (n != NULL && plist_get_node_type(n) == PLIST_STRING) {
		s = plist_get_string_ptr(n, &len);
		o_text(o, s != NULL ? s : "", s != NULL ? (size_t)len : 0);
	} else
		o_jplist(o, n, 0);
}

/* A string node's text, or NULL. */
static const char *
str_of(plist_t n, uint64_t *len)
{
	*len = 0;
	if (n == NULL || plist_get_node_type(n) != PLIST_STRING)
		return NULL;
	return plist_get_string_ptr(n, len);
}

/* SCEP Subject as "/O=Example/CN=Ana" (an RDN's pairs joined by "+");
 * 0 if it is not an array of arrays of [type, value] string pairs. */
static int
o_subject(struct out *o, plist_t subj)
{
	uint32_t i, j, nr, np;
	plist_t rdn, pair;
	const char *t, *v;
	uint64_t tl, vl;

	if (subj == NULL || plist_get_node_type(subj) != PLIST_ARRAY)
		return 0;
	nr = plist_array_get_size(subj);
	for (i = 0; i < nr; i++) {
		rdn = plist_array_get_item(subj, i);
		if (plist_get_node_type(rdn) != PLIST_ARRAY ||
		    plist_array_get_size(rdn) == 0)
			return 0;
		np = plist_array_get_size(rdn);
		for (j = 0; j < np; j++) {
			pair = plist_array_get_item(rdn, j);
			if (plist_get_node_type(pair) != PLIST_ARRAY ||
			    plist_array_get_size(pair) != 2 ||
			    str_of(plist_array_get_item(pair, 0), &tl) ==
			    NULL || str_of(plist_array_get_item(pair, 1), &vl) ==
			    NULL)
				return 0;
		}
	}
	for (i = 0; i < nr; i++) {
		rdn = plist_array_get_item(subj, i);
		np = plist_array_get_size(rdn);
		for (j = 0; j < np; j++) {
			pair = plist_array_get_item(rdn, j);
			t = str_of(plist_array_get_item(pair, 0), &tl);
			v = str_of(plist_array_get_item(pair, 1), &vl);
			o_str(o, j == 0 ? "/" : "+");
			o_text(o, t, (size_t)tl);
			o_str(o, "=");
			o_text(o, v, (size_t)vl);
		}
	}
	return 1;
}

/* SubjectAltName as "rfc822Name=a@example.com, dNSName=x"; 0 if it is
 * not a dictionary of strings or arrays of strings. */
static int
o_san(struct out *o, plist_t san)
{
	struct pf_buf tmp = { 0 };
	struct out t = { &tmp, NULL };
	plist_dict_iter it = NULL;
	uint32_t i, cnt;
	uint64_t len;
	const char *s;
	int ok = 1, n = 0;

	if (san == NULL || plist_get_node_type(san) != PLIST_DICT)
		return 0;
	plist_dict_new_iter(san, &it);
	if (it == NULL)
		return 0;
	for (;;) {
		char *key = NULL;
		plist_t v = NULL;

		plist_dict_next_item(san, it, &key, &v);
		if (key == NULL || v == NULL) {
			free(key);
			break;
		}
		cnt = plist_get_node_type(v) == PLIST_ARRAY ?
		    plist_array_get_size(v) : 1;
		for (i = 0; i < cnt && ok; i++) {
			s = str_of(plist_get_node_type(v) == PLIST_ARRAY ?
			    plist_array_get_item(v, i) : v, &len);
			if (s == NULL) {
				ok = 0;
				break;
			}
			if (n++ > 0)
				o_str(&t, ", ");
			o_textz(&t, key);
			o_str(&t, "=");
			o_text(&t, s, (size_t)len);
		}
		free(key);
		if (!ok)
			break;
	}
	free(it);
	if (ok && t.err == NULL)
		o_add(o, tmp.data != NULL ? tmp.data : "", tmp.len);
	if (t.err != NULL && o->err == NULL)
		o->err = t.err;
	else
		pf_error_free(t.err);
	pf_buf_free(&tmp);
	return ok;
}

/* Characters of the Challenge (a string), -1 when there is none, -2 when
 * it is not a string.  Its text is never looked at otherwise. */
static long long
challenge_chars(plist_t scep)
{
	plist_t ch = plist_dict_get_item(scep, "Challenge");
	const unsigned char *p;
	uint64_t len = 0;
	long long n = 0;
	size_t i, k;
	uint32_t c;

	if (ch == NULL)
		return -1;
	if ((p = (const unsigned char *)str_of(ch, &len)) == NULL)
		return -2;
	for (i = 0; i < len; i += k != 0 ? k : 1, n++)
		k = utf8_char(p + i, (size_t)len - i, &c);
	return n;
}

#define LABEL_W	20

/* "  label:" padded to the value column. */
static void
o_label(struct out *o, int indent, const char *label)
{
	char tmp[128];
	int n;

	n = snprintf(tmp, sizeof(tmp), "%*s%s:", indent, "", label);
	o_fmt(o, "%-*s", n < LABEL_W ? LABEL_W : n + 1, tmp);
}

/* "label: value" with value escaped, "(missing)" for NULL. */
static void
t_line(struct out *o, int indent, const char *label, const char *v)
{
	o_label(o, indent, label);
	o_textz(o, v != NULL ? v : "(missing)");
	o_str(o, "\n");
}

static void
t_validity(struct out *o, const struct pf_inspection *in,
    const struct cert_facts *f)
{
	char from[32], until[32];
	long long days;

	o_label(o, 2, "valid");
	if (!f->times_ok) {
		o_str(o, "(unreadable)\n");
		return;
	}
	pf_time_iso(f->not_before, from, sizeof(from));
	pf_time_iso(f->not_after, until, sizeof(until));
	o_fmt(o, "%s to %s ", from, until);
	if (in->now < f->not_before)
		o_str(o, "(NOT VALID YET)\n");
	else if (in->now > f->not_after) {
		days = ((long long)in->now - f->not_after) / PF_DAY;
		o_fmt(o, "(EXPIRED %lld day%s ago)\n", days,
		    days == 1 ? "" : "s");
	} else {
		days = ((long long)f->not_after - in->now) / PF_DAY;
		o_fmt(o, "(expires in %lld day%s)\n", days,
		    days == 1 ? "" : "s");
	}
}

static const char *
check_word(enum check c, const char *ok, const char *fail)
{
	return c == CHECK_OK ? ok : c == CHECK_FAIL ? fail : "not checked";
}

static void
t_signer(struct out *o, const struct pf_inspection *in,
    const struct signer *sg, size_t idx)
{
	char label[32], iso[32];
	size_t i;

	if (in->nsigners > 1)
		snprintf(label, sizeof(label), "signer %zu", idx + 1);
	else
		snprintf(label, sizeof(label), "signer");
	if (!sg->have_cert) {
		t_line(o, 0, label, "(certificate not in the profile)");
		return;
	}
	t_line(o, 0, label, sg->cert.subject);
	t_line(o, 2, "issuer", sg->cert.issuer);
	t_line(o, 2, "serial", sg->cert.serial);
	t_validity(o, in, &sg->cert);
	t_line(o, 2, "sha256", sg->cert.sha256);
	t_line(o, 2, "key", sg->cert.key);
	if (sg->have_time) {
		pf_time_iso(sg->signing_time, iso, sizeof(iso));
		t_line(o, 2, "signed at", iso);
	}
	t_line(o, 2, "signature", check_word(sg->signature, "valid",
	    "INVALID"));
	t_line(o, 2, "content digest", check_word(sg->digest, "matches",
	    "DOES NOT MATCH"));
	o_label(o, 2, "chain");
	if (in->ca_label == NULL) {
		o_str(o, "not checked (no --ca)\n");
		return;
	}
	if (sg->chain == CHECK_FAIL) {
		o_str(o, "FAILED: ");
		o_textz(o, sg->chain_why);
		o_str(o, "\n");
		return;
	}
	if (sg->chain != CHECK_OK) {
		o_str(o, "not checked\n");
		return;
	}
	o_str(o, "verified to a root in ");
	o_textz(o, in->ca_label);
	o_str(o, "\n");
	for (i = 0; i < sg->npath; i++) {
		o_fmt(o, "    [%zu] ", i);
		o_textz(o, sg->path[i].subject);
		if (sg->path[i].from_ca) {
			o_str(o, " (root from ");
			o_textz(o, in->ca_label);
			o_str(o, ")");
		}
		o_str(o, "\n");
	}
}

static void
t_scep(struct out *o, plist_t scep)
{
	plist_t n;
	uint64_t u = 0;
	long long chars;

	o_label(o, 2, "URL");
	n = plist_dict_get_item(scep, "URL");
	if (n == NULL)
		o_str(o, "(missing)");
	else
		o_tplist(o, n);
	o_str(o, "\n");
	if ((n = plist_dict_get_item(scep, "Name")) != NULL) {
		o_label(o, 2, "Name");
		o_tplist(o, n);
		o_str(o, "\n");
	}
	if ((n = plist_dict_get_item(scep, "Subject")) != NULL) {
		o_label(o, 2, "Subject");
		if (!o_subject(o, n))
			o_jplist(o, n, 0);
		o_str(o, "\n");
	}
	if ((n = plist_dict_get_item(scep, "SubjectAltName")) != NULL) {
		o_label(o, 2, "SubjectAltName");
		if (!o_san(o, n))
			o_jplist(o, n, 0);
		o_str(o, "\n");
	}
	o_label(o, 2, "Keysize");
	if ((n = plist_dict_get_item(scep, "Keysize")) != NULL)
		o_tplist(o, n);
	else
		o_str(o, "(not set: devices use 1024)");
	o_str(o, "\n");
	if ((n = plist_dict_get_item(scep, "Key Type")) != NULL) {
		o_label(o, 2, "Key Type");
		o_tplist(o, n);
		o_str(o, "\n");
	}
	if ((n = plist_dict_get_item(scep, "Key Usage")) != NULL) {
		o_label(o, 2, "Key Usage");
		o_tplist(o, n);
		if (plist_get_node_type(n) == PLIST_UINT) {
			plist_get_uint_val(n, &u);
			o_str(o, u == 1 ? " (signing)" : u == 4 ?
			    " (encryption)" : u == 5 ?
			    " (signing, encryption)" : "");
		}
		o_str(o, "\n");
	}
	o_label(o, 2, "Challenge");
	chars = challenge_chars(scep);
	if (chars == -1)
		o_str(o, "(none)\n");
	else if (chars == -2)
		o_str(o, "(set, not a string, masked)\n");
	else if (chars == 0)
		o_str(o, "(set, empty)\n");
	else
		o_fmt(o, "(set, %lld character%s, masked)\n", chars,
		    chars == 1 ? "" : "s");
}

static const char *
payload_type(const struct pf_inspection *in, size_t i)
{
	const struct payload *p = &in->payloads[i];

	if (!p->is_dict)
		return "(not a dictionary)";
	return p->type != NULL ? p->type : "(no PayloadType)";
}

static void
t_verdict(struct out *o, const struct pf_inspection *in)
{
	size_t i;

	o_label(o, 0, "verdict");
	switch (in->verdict) {
	case PF_VERDICT_VERIFIED:
		o_str(o, "VERIFIED: signature valid, chain reaches a root in ");
		o_textz(o, in->ca_label);
		break;
	case PF_VERDICT_SIGNATURE:
		o_str(o, "SIGNATURE VALID, CHAIN NOT CHECKED (no --ca): give "
		    "--ca with your root to check what a device checks");
		break;
	case PF_VERDICT_FAILED:
		o_str(o, "NOT VERIFIED: ");
		for (i = 0; i < in->nproblems; i++) {
			if (i > 0)
				o_str(o, "; ");
			o_textz(o, in->problems[i]);
		}
		break;
	case PF_VERDICT_UNSIGNED:
		o_str(o, "UNSIGNED: a device shows this profile as unsigned");
		break;
	}
	o_str(o, "\n");
}

struct pf_error *
pf_inspection_text(const struct pf_inspection *in, struct pf_buf *b)
{
	struct out o = { b, NULL };
	const struct payload *p;
	const struct ref *r;
	char label[48];
	size_t i;

	o_label(&o, 0, "file");
	o_textz(&o, in->label);
	o_fmt(&o, " (%zu bytes)\n", in->bytes);
	o_label(&o, 0, "format");
	if (in->is_signed)
		o_fmt(&o, "signed: DER CMS SignedData, %zu-byte content, %zu "
		    "certificate%s\n", in->content_bytes, in->ncerts,
		    in->ncerts == 1 ? "" : "s");
	else
		o_str(&o, "unsigned: a bare XML plist\n");
	for (i = 0; i < in->nsigners; i++)
		t_signer(&o, in, &in->signers[i], i);
	if (in->content_error != NULL) {
		o_label(&o, 0, "content");
		o_str(&o, "NOT A PROFILE: ");
		o_textz(&o, in->content_error);
		o_str(&o, "\n");
	}
	if (in->root != NULL) {
		t_line(&o, 0, "profile", in->identifier);
		t_line(&o, 2, "type", in->type);
		t_line(&o, 2, "display name", in->name);
		t_line(&o, 2, "uuid", in->uuid);
		o_label(&o, 2, "payloads");
		o_fmt(&o, "%zu\n", in->npayloads);
	}
	for (i = 0; i < in->npayloads; i++) {
		p = &in->payloads[i];
		snprintf(label, sizeof(label), "PayloadContent[%zu]", i);
		t_line(&o, 0, label, payload_type(in, i));
		if (!p->is_dict)
			continue;
		t_line(&o, 2, "identifier", p->identifier);
		t_line(&o, 2, "uuid", p->uuid);
		if (p->name != NULL)
			t_line(&o, 2, "display name", p->name);
		if (p->scep != NULL)
			t_scep(&o, p->scep);
	}
	if (in->root != NULL) {
		o_label(&o, 0, "wiring");
		if (in->nrefs == 0)
			o_str(&o, "no references between payloads\n");
		else
			o_fmt(&o, "%zu reference%s\n", in->nrefs,
			    in->nrefs == 1 ? "" : "s");
	}
	for (i = 0; i < in->nrefs; i++) {
		r = &in->refs[i];
		o_fmt(&o, "  PayloadContent[%zu].", r->from);
		o_textz(&o, r->path);
		if (r->dangling) {
			o_str(&o, " -> ");
			o_textz(&o, r->uuid);
			o_str(&o, ": DANGLING, no payload has this "
			    "PayloadUUID\n");
			continue;
		}
		o_fmt(&o, " -> PayloadContent[%zu] (", r->to);
		o_textz(&o, payload_type(in, r->to));
		o_str(&o, ")\n");
	}
	for (i = 0; i < in->nnotes; i++)
		t_line(&o, 0, "note", in->notes[i]);
	t_verdict(&o, in);
	return o.err;
}

static const char *
verdict_word(enum pf_verdict_kind v)
{
	switch (v) {
	case PF_VERDICT_VERIFIED:
		return "verified";
	case PF_VERDICT_SIGNATURE:
		return "signature-only";
	case PF_VERDICT_FAILED:
		return "failed";
	case PF_VERDICT_UNSIGNED:
		return "unsigned";
	}
	return "failed";
}

static void
j_cert(struct out *o, const struct pf_inspection *in,
    const struct cert_facts *f, int first)
{
	j_str(o, &first, "subject", f->subject);
	j_str(o, &first, "issuer", f->issuer);
	j_str(o, &first, "serial", f->serial);
	j_str(o, &first, "sha256", f->sha256);
	j_str(o, &first, "key", f->key);
	j_time(o, &first, "not_before", f->times_ok, f->not_before);
	j_time(o, &first, "not_after", f->times_ok, f->not_after);
	j_bool(o, &first, "expired", f->times_ok && in->now > f->not_after);
	j_bool(o, &first, "not_yet_valid", f->times_ok &&
	    in->now < f->not_before);
	j_key(o, &first, "days_left");
	if (f->times_ok)
		o_fmt(o, "%lld", ((long long)f->not_after - in->now) / PF_DAY);
	else
		o_str(o, "null");
}

static void
j_signer(struct out *o, const struct pf_inspection *in,
    const struct signer *sg)
{
	int first = 1, f2;
	size_t i;

	o_add(o, "{", 1);
	j_bool(o, &first, "certificate_included", sg->have_cert);
	if (sg->have_cert) {
		o_add(o, ",", 1);
		j_cert(o, in, &sg->cert, 1);
	}
	j_time(o, &first, "signing_time", sg->have_time, sg->signing_time);
	j_str(o, &first, "signature", check_word(sg->signature, "valid",
	    "invalid"));
	j_str(o, &first, "content_digest", check_word(sg->digest, "matches",
	    "differs"));
	j_key(o, &first, "chain");
	f2 = 1;
	o_add(o, "{", 1);
	j_str(o, &f2, "status", in->ca_label == NULL ? "not checked" :
	    sg->chain == CHECK_OK ? "verified" : sg->chain == CHECK_FAIL ?
	    "failed" : "not checked");
	j_str(o, &f2, "ca", in->ca_label);
	j_str(o, &f2, "reason", sg->chain_why);
	j_key(o, &f2, "certificates");
	o_add(o, "[", 1);
	for (i = 0; i < sg->npath; i++) {
		int f3 = 1;

		if (i > 0)
			o_add(o, ",", 1);
		o_add(o, "{", 1);
		j_cert(o, in, &sg->path[i], 1);
		f3 = 0;
		j_str(o, &f3, "source", sg->path[i].from_ca ? "ca" :
		    i == 0 ? "signer" : "profile");
		o_add(o, "}", 1);
	}
	o_add(o, "]}}", 3);
}

static void
j_scep(struct out *o, plist_t scep)
{
	int first = 1, f2 = 1;
	long long chars;
	plist_t n;

	o_add(o, "{", 1);
	j_key(o, &first, "url");
	o_jplist(o, plist_dict_get_item(scep, "URL"), 0);
	j_key(o, &first, "name");
	o_jplist(o, plist_dict_get_item(scep, "Name"), 0);
	j_key(o, &first, "subject");
	o_jplist(o, n = plist_dict_get_item(scep, "Subject"), 0);
	j_key(o, &first, "subject_text");
	{
		struct pf_buf tmp = { 0 };
		struct out t = { &tmp, NULL };

		if (o_subject(&t, n) && t.err == NULL)
			o_jstr(o, tmp.data != NULL ? tmp.data : "", tmp.len);
		else
			o_str(o, "null");
		if (t.err != NULL && o->err == NULL)
			o->err = t.err;
		else
			pf_error_free(t.err);
		pf_buf_free(&tmp);
	}
	j_key(o, &first, "subject_alt_name");
	o_jplist(o, plist_dict_get_item(scep, "SubjectAltName"), 0);
	j_key(o, &first, "keysize");
	o_jplist(o, plist_dict_get_item(scep, "Keysize"), 0);
	j_key(o, &first, "key_type");
	o_jplist(o, plist_dict_get_item(scep, "Key Type"), 0);
	j_key(o, &first, "key_usage");
	o_jplist(o, plist_dict_get_item(scep, "Key Usage"), 0);
	j_key(o, &first, "challenge");
	chars = challenge_chars(scep);
	if (chars == -1) {
		o_str(o, "null}");
		return;
	}
	o_add(o, "{", 1);
	j_bool(o, &f2, "set", 1);
	j_key(o, &f2, "characters");
	if (chars < 0)
		o_str(o, "null");
	else
		o_fmt(o, "%lld", chars);
	j_bool(o, &f2, "masked", 1);
	o_add(o, "}}", 2);
}

struct pf_error *
pf_inspection_json(const struct pf_inspection *in, struct pf_buf *b)
{
	struct out o = { b, NULL };
	const struct payload *p;
	const struct ref *r;
	int first = 1, f2;
	size_t i;

	o_add(&o, "{", 1);
	j_str(&o, &first, "file", in->label);
	j_int(&o, &first, "bytes", (long long)in->bytes);
	j_str(&o, &first, "format", in->is_signed ? "cms" : "plist");
	j_bool(&o, &first, "signed", in->is_signed);
	j_bool(&o, &first, "verified", in->verdict == PF_VERDICT_VERIFIED);
	j_str(&o, &first, "verdict", verdict_word(in->verdict));
	j_key(&o, &first, "problems");
	o_add(&o, "[", 1);
	for (i = 0; i < in->nproblems; i++) {
		if (i > 0)
			o_add(&o, ",", 1);
		o_jstrz(&o, in->problems[i]);
	}
	o_add(&o, "]", 1);
	j_str(&o, &first, "ca", in->ca_label);
	j_key(&o, &first, "content_bytes");
	if (in->is_signed)
		o_fmt(&o, "%zu", in->content_bytes);
	else
		o_str(&o, "null");
	j_int(&o, &first, "certificates", (long long)in->ncerts);
	j_key(&o, &first, "signers");
	o_add(&o, "[", 1);
	for (i = 0; i < in->nsigners; i++) {
		if (i > 0)
			o_add(&o, ",", 1);
		j_signer(&o, in, &in->signers[i]);
	}
	o_add(&o, "]", 1);
	j_str(&o, &first, "content_error", in->content_error);
	j_key(&o, &first, "profile");
	if (in->root == NULL)
		o_str(&o, "null");
	else {
		f2 = 1;
		o_add(&o, "{", 1);
		j_str(&o, &f2, "type", in->type);
		j_str(&o, &f2, "identifier", in->identifier);
		j_str(&o, &f2, "display_name", in->name);
		j_str(&o, &f2, "uuid", in->uuid);
		o_add(&o, "}", 1);
	}
	j_key(&o, &first, "payloads");
	o_add(&o, "[", 1);
	for (i = 0; i < in->npayloads; i++) {
		p = &in->payloads[i];
		f2 = 1;
		if (i > 0)
			o_add(&o, ",", 1);
		o_add(&o, "{", 1);
		j_int(&o, &f2, "index", (long long)i);
		j_bool(&o, &f2, "dictionary", p->is_dict);
		j_str(&o, &f2, "type", p->type);
		j_str(&o, &f2, "identifier", p->identifier);
		j_str(&o, &f2, "uuid", p->uuid);
		j_str(&o, &f2, "display_name", p->name);
		if (p->scep != NULL) {
			j_key(&o, &f2, "scep");
			j_scep(&o, p->scep);
		}
		o_add(&o, "}", 1);
	}
	o_add(&o, "]", 1);
	j_key(&o, &first, "references");
	o_add(&o, "[", 1);
	for (i = 0; i < in->nrefs; i++) {
		r = &in->refs[i];
		f2 = 1;
		if (i > 0)
			o_add(&o, ",", 1);
		o_add(&o, "{", 1);
		j_int(&o, &f2, "from", (long long)r->from);
		j_str(&o, &f2, "key", r->path);
		j_str(&o, &f2, "uuid", r->uuid);
		j_key(&o, &f2, "to");
		if (r->dangling)
			o_str(&o, "null");
		else
			o_fmt(&o, "%zu", r->to);
		j_bool(&o, &f2, "dangling", r->dangling);
		o_add(&o, "}", 1);
	}
	o_add(&o, "]", 1);
	j_key(&o, &first, "notes");
	o_add(&o, "[", 1);
	for (i = 0; i < in->nnotes; i++) {
		if (i > 0)
			o_add(&o, ",", 1);
		o_jstrz(&o, in->notes[i]);
	}
	o_add(&o, "]}\n", 3);
	return o.err;
}
