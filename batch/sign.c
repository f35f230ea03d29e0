/*
 * sign: load and check the signer, and sign profiles as DER CMS SignedData
 * (RFC 5652).
 *
 * The SignedData is assembled here rather than through CMS_sign(): all of
 * it except the content, the signed attributes and the signature is the
 * same for every profile, so its DER is built once per signer (version,
 * digestAlgorithms, the certificates set, the SignerInfo's version, sid and
 * digestAlgorithm, the signatureAlgorithm).  Per profile there are two
 * SHA-256 digests, one private-key operation and a few copies.
 *
 * Layout of what pf_sign() writes:
 *
 *   ContentInfo SEQUENCE
 *     contentType id-signedData
 *     [0] SignedData SEQUENCE
 *       version 1                          -+ sd_head (constant)
 *       digestAlgorithms SET { sha256 }    -+
 *       encapContentInfo SEQUENCE
 *         eContentType id-data
 *         [0] eContent OCTET STRING        the profile, byte for byte
 *       [0] certificates                   s->certs (per signer)
 *       signerInfos SET
 *         SignerInfo SEQUENCE
 *           version 1                      -+ s->si_head (per signer)
 *           sid IssuerAndSerialNumber       |
 *           digestAlgorithm sha256         -+
 *           [0] signedAttrs                contentType, signingTime,
 *                                          messageDigest (DER order)
 *           signatureAlgorithm             s->sigalg (constant)
 *           signature OCTET STRING
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "sign.h"
#include "util.h"

#define PF_PEM_MAX	(1024 * 1024)	/* largest certificate or key file */
#define PF_PASS_MAX	1024		/* longest passphrase, with its NUL */
#define PF_DAY		86400

/* DER of object identifiers and algorithm identifiers. */
static const uint8_t oid_signed_data[] = {	/* 1.2.840.113549.1.7.2 */
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
};
static const uint8_t oid_data[] = {		/* 1.2.840.113549.1.7.1 */
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
};
/* version 1, digestAlgorithms SET { sha256 (parameters absent) } */
static const uint8_t sd_head[] = {
	0x02, 0x01, 0x01,
	0x31, 0x0d, 0x30, 0x0b, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01
};
static const uint8_t alg_sha256[] = {		/* 2.16.840.1.101.3.4.2.1 */
	0x30, 0x0b, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01
};
/* rsaEncryption, NULL parameters: PKCS#1 v1.5, as OpenSSL's CMS writes. */
static const uint8_t alg_rsa[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	0x01, 0x01, 0x05, 0x00
};
static const uint8_t alg_ecdsa_sha256[] = {	/* 1.2.840.10045.4.3.2 */
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02
};
/* Attribute contentType = id-data. */
static const uint8_t attr_content_type[] = {
	0x30, 0x18,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03,
	0x31, 0x0b,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
};
/* Attribute signingTime: OID; the SET of one Time follows. */
static const uint8_t attr_signing_time_oid[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05
};
/* Attribute messageDigest: everything up to the 32 digest bytes. */
static const uint8_t attr_message_digest[] = {
	0x30, 0x2f,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04,
	0x31, 0x22, 0x04, 0x20
};

#define PF_TIME_DER_MAX	17	/* GeneralizedTime: tag, length, 15 chars */
#define PF_ATTRS_MAX	128	/* the signed attributes' SET, 107 or 109 */

struct pf_signer {
	X509 *cert;			/* owned */
	STACK_OF(X509) *chain;		/* owned, with its certificates */
	EVP_PKEY *key;			/* owned */
	EVP_MD *md;			/* SHA-256, fetched once; owned */
	int is_rsa;			/* else EC */
	time_t not_after;
	char fingerprint[PF_SHA256_HEX];
	char *subject;			/* malloc'd, RFC 2253 */
	char keytype[80];		/* "RSA-2048", "EC-P-256" */
	uint8_t *certs;			/* malloc'd: DER of [0] certificates */
	size_t certs_len;
	uint8_t *si_head;		/* malloc'd: SignerInfo version, sid,
					 * digestAlgorithm */
	size_t si_head_len;
	const uint8_t *sigalg;		/* static: signatureAlgorithm DER */
	size_t sigalg_len;
	size_t sig_max;			/* largest signature, bytes */
};

struct pf_sign_ctx {
	const struct pf_signer *s;	/* borrowed; outlives the ctx */
	EVP_PKEY_CTX *pctx;		/* owned, initialised for signing */
	EVP_MD_CTX *mdctx;		/* owned, reused for every digest */
	uint8_t *sig;			/* malloc'd, s->sig_max bytes */
	time_t time_at;			/* second that time_der encodes */
	uint8_t time_der[PF_TIME_DER_MAX]; /* signingTime value's DER */
	size_t time_len;
};

/* Bytes of a DER length field for n. */
static size_t
der_len_size(size_t n)
{
	size_t k = 1;

	if (n < 0x80)
		return 1;
	while (n > 0) {
		k++;
		n >>= 8;
	}
	return k;
}

/* Bytes of a whole TLV whose value is n bytes (one-byte tags only). */
static size_t
der_tlv_size(size_t n)
{
	return 1 + der_len_size(n) + n;
}

/* Write a tag and the length n at p; returns the byte after them. */
static uint8_t *
der_put_hdr(uint8_t *p, uint8_t tag, size_t n)
{
	size_t k, i;

	*p++ = tag;
	if (n < 0x80) {
		*p++ = (uint8_t)n;
		return p;
	}
	k = der_len_size(n) - 1;
	*p++ = (uint8_t)(0x80 | k);
	for (i = k; i > 0; i--)
		*p++ = (uint8_t)(n >> (8 * (i - 1)));
	return p;
}

static uint8_t *
der_put(uint8_t *p, const void *src, size_t n)
{
	if (n > 0)
		memcpy(p, src, n);
	return p + n;
}

/* Append a tag and length to b. */
static struct pf_error *
buf_hdr(struct pf_buf *b, uint8_t tag, size_t n)
{
	uint8_t hdr[1 + 1 + sizeof(size_t)];

	return pf_buf_add(b, hdr, (size_t)(der_put_hdr(hdr, tag, n) - hdr));
}

/*
 * Read a whole file of at most PF_PEM_MAX bytes into *out (malloc'd, owned
 * by the caller, NUL-terminated).  Reads with read(2) into one buffer so
 * that a key can be wiped: no stdio buffer, no realloc copies.  Missing or
 * unreadable is PF_EX_NOINPUT.
 */
static struct pf_error *
read_file(const char *path, uint8_t **out, size_t *outlen)
{
	struct pf_error *err = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		err = pf_error_errno(PF_EX_NOINPUT, "%s", path);
		goto done;
	}
	buf = malloc(PF_PEM_MAX + 1);
	if (buf == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	for (;;) {
		r = read(fd, buf + len, PF_PEM_MAX + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			err = pf_error_errno(PF_EX_NOINPUT, "%s", path);
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > PF_PEM_MAX) {
			err = pf_error_fmt(PF_EX_CONFIG,
			    "%s: file larger than %d bytes", path, PF_PEM_MAX);
			goto done;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
done:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (fd != -1)
		close(fd);
	return err;
}

/* Wipe and free a buffer from read_file(). */
static void
wipe_free(uint8_t *buf, size_t len)
{
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
}

/*
 * The passphrase named by spec ("env:VAR" or "file:PATH"; for a file, its
 * content up to the first newline, without a CR before it) into
 * pass[PF_PASS_MAX], NUL-terminated.  The caller wipes pass.  Messages
 * name the variable or the file, never the passphrase.
 */
static struct pf_error *
get_pass(const char *spec, char *pass, size_t *passlen)
{
	struct pf_error *err = NULL;
	const char *v, *path;
	size_t len = 0;
	ssize_t r;
	char *nl;
	int fd = -1;

	*passlen = 0;
	if (strncmp(spec, "env:", 4) == 0 && spec[4] != '\0') {
		v = getenv(spec + 4);
		if (v == NULL) {
			err = pf_error_fmt(PF_EX_CONFIG, "--key-pass %s: "
			    "environment variable %s is not set", spec,
			    spec + 4);
			goto done;
		}
		len = strlen(v);
		if (len >= PF_PASS_MAX) {
			err = pf_error_fmt(PF_EX_CONFIG, "--key-pass %s: "
			    "passphrase longer than %d bytes", spec,
			    PF_PASS_MAX - 1);
			goto done;
		}
		memcpy(pass, v, len + 1);
		*passlen = len;
		goto done;
	}
	if (strncmp(spec, "file:", 5) != 0 || spec[5] == '\0') {
		/* spec may be the passphrase itself: do not repeat it */
		err = pf_error_fmt(PF_EX_USAGE,
		    "--key-pass: expected env:VAR or file:PATH");
		goto done;
	}
	path = spec + 5;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		err = pf_error_errno(PF_EX_NOINPUT, "%s", path);
		goto done;
	}
	while (len < PF_PASS_MAX - 1) {
		r = read(fd, pass + len, PF_PASS_MAX - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			err = pf_error_errno(PF_EX_NOINPUT, "%s", path);
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (memchr(pass, '\n', len) != NULL)
			break;
	}
	pass[len] = '\0';
	nl = memchr(pass, '\n', len);
	if (nl == NULL && len == PF_PASS_MAX - 1) {
		err = pf_error_fmt(PF_EX_CONFIG, "%s: passphrase longer than "
		    "%d bytes", path, PF_PASS_MAX - 2);
		goto done;
	}
	if (nl != NULL) {
		*nl = '\0';
		len = (size_t)(nl - pass);
		if (len > 0 && pass[len - 1] == '\r')
			pass[--len] = '\0';
	}
	*passlen = len;
done:
	if (fd != -1)
		close(fd);
	return err;
}

struct pass_cb_arg {
	const char *pass;	/* borrowed; NULL when none was given */
	size_t len;
	int asked;		/* set when OpenSSL asked: key encrypted */
};

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_cb_arg *a = u;

	(void)rwflag;
	a->asked = 1;
	if (a->pass == NULL || size < 0 || a->len > (size_t)size)
		return -1;
	memcpy(buf, a->pass, a->len);
	return (int)a->len;
}

int
pf_asn1_time(const ASN1_TIME *at, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (at == NULL || !ASN1_TIME_to_tm(at, &tm))
		return 0;
	*out = timegm(&tm);
	return 1;
}

char *
pf_x509_name(const X509_NAME *nm)
{
	BIO *bio = NULL;
	char *s = NULL, *p;
	long n;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto done;
	if (X509_NAME_print_ex(bio, nm, 0, XN_FLAG_RFC2253) < 0)
		goto done;
	n = BIO_get_mem_data(bio, &p);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		goto done;
	if (n > 0)
		memcpy(s, p, (size_t)n);
	s[n] = '\0';
done:
	BIO_free(bio);
	ERR_clear_error();
	return s;
}

/*
 * Check x's validity at now.  what names it in messages ("signer.pem:
 * certificate" or "chain.pem: certificate 2 (CN=...)"); sets *not_after.
 */
static struct pf_error *
check_validity(const X509 *x, const char *what, time_t now, time_t *not_after)
{
	char iso[32];
	time_t nb, na;

	if (!pf_asn1_time(X509_get0_notBefore(x), &nb) ||
	    !pf_asn1_time(X509_get0_notAfter(x), &na))
		return pf_error_ssl(PF_EX_CONFIG,
		    "%s has an invalid validity period", what);
	if (now < nb) {
		pf_time_iso(nb, iso, sizeof(iso));
		return pf_error_fmt(PF_EX_CONFIG,
		    "%s not valid before %s", what, iso);
	}
	if (now > na) {
		pf_time_iso(na, iso, sizeof(iso));
		return pf_error_fmt(PF_EX_CONFIG,
		    "%s expired on %s", what, iso);
	}
	*not_after = na;
	return NULL;
}

static void
warn_expiry(const struct pf_warn *warn, const char *what, time_t na,
    time_t now)
{
	char iso[32];
	long long days;

	pf_time_iso(na, iso, sizeof(iso));
	days = ((long long)na - now + PF_DAY - 1) / PF_DAY;
	pf_warnf(warn, "%s expires on %s (in %lld day%s)", what,
	    iso, days, days == 1 ? "" : "s");
}

static struct pf_error *
load_cert(const char *path, X509 **out)
{
	struct pf_error *err = NULL;
	uint8_t *buf = NULL;
	size_t len;
	BIO *bio = NULL;

	*out = NULL;
	if ((err = read_file(path, &buf, &len)) != NULL)
		goto done;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		err = pf_error_ssl(PF_EX_SOFTWARE, "%s", path);
		goto done;
	}
	*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (*out == NULL)
		err = pf_error_ssl(PF_EX_CONFIG, "%s: not a PEM certificate",
		    path);
done:
	BIO_free(bio);
	free(buf);
	return err;
}

/* Zero or more PEM certificates; a file with none must be blank. */
static struct pf_error *
load_chain(const char *path, STACK_OF(X509) **out)
{
	struct pf_error *err = NULL;
	STACK_OF(X509) *sk = NULL;
	uint8_t *buf = NULL;
	size_t len, i;
	BIO *bio = NULL;
	X509 *x = NULL;
	unsigned long e;

	*out = NULL;
	if ((err = read_file(path, &buf, &len)) != NULL)
		goto done;
	if ((sk = sk_X509_new_null()) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		err = pf_error_ssl(PF_EX_SOFTWARE, "%s", path);
		goto done;
	}
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
			    path, sk_X509_num(sk) + 1);
			goto done;
		}
		if (!sk_X509_push(sk, x)) {
			err = pf_error_nomem();
			goto done;
		}
		x = NULL;
	}
	if (sk_X509_num(sk) == 0) {
		for (i = 0; i < len; i++) {
			if (buf[i] != ' ' && buf[i] != '\t' &&
			    buf[i] != '\r' && buf[i] != '\n') {
				err = pf_error_fmt(PF_EX_CONFIG,
				    "%s: no PEM certificate found", path);
				goto done;
			}
		}
	}
	*out = sk;
	sk = NULL;
done:
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	free(buf);
	return err;
}

static struct pf_error *
load_key(const char *path, const char *key_pass, EVP_PKEY **out)
{
	struct pf_error *err = NULL;
	struct pass_cb_arg cb;
	char pass[PF_PASS_MAX];
	uint8_t *buf = NULL;
	size_t len = 0, passlen = 0;
	BIO *bio = NULL;

	*out = NULL;
	memset(&cb, 0, sizeof(cb));
	if (key_pass != NULL) {
		if ((err = get_pass(key_pass, pass, &passlen)) != NULL)
			goto done;
		cb.pass = pass;
		cb.len = passlen;
	}
	if ((err = read_file(path, &buf, &len)) != NULL)
		goto done;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		err = pf_error_ssl(PF_EX_SOFTWARE, "%s", path);
		goto done;
	}
	*out = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &cb);
	if (*out != NULL)
		goto done;
	if (cb.asked && key_pass == NULL) {
		ERR_clear_error();
		err = pf_error_fmt(PF_EX_CONFIG, "%s: private key is "
		    "encrypted: give its passphrase with --key-pass env:VAR "
		    "or file:PATH", path);
	} else if (cb.asked)
		err = pf_error_ssl(PF_EX_CONFIG, "%s: cannot decrypt private "
		    "key (wrong passphrase?)", path);
	else if (strstr((char *)buf, "PRIVATE KEY-----") == NULL) {
		ERR_clear_error();
		err = pf_error_fmt(PF_EX_CONFIG,
		    "%s: no PEM private key found", path);
	} else
		err = pf_error_ssl(PF_EX_CONFIG, "%s: not a PEM private key",
		    path);
done:
	OPENSSL_cleanse(pass, sizeof(pass));
	BIO_free(bio);
	wipe_free(buf, len);
	return err;
}

/* Check that issuer issued and signed x. */
static int
issued_by(X509 *issuer, X509 *x, const char **why)
{
	EVP_PKEY *pk;
	int rc;

	rc = X509_check_issued(issuer, x);
	if (rc != X509_V_OK) {
		*why = X509_verify_cert_error_string(rc);
		return 0;
	}
	pk = X509_get0_pubkey(issuer);
	if (pk == NULL || X509_verify(x, pk) != 1) {
		ERR_clear_error();
		*why = "signature does not verify with its key";
		return 0;
	}
	return 1;
}

/* Check the chain's links, validity and expiry (warnings). */
static struct pf_error *
check_chain(struct pf_signer *s, const struct pf_signer_opts *opts,
    const struct pf_warn *warn)
{
	struct pf_error *err = NULL;
	char what[PF_ERRMSG_MAX / 2], iso[32], siso[32];
	char *subj = NULL, *prevsubj = NULL;
	const char *why;
	X509 *x, *prev = s->cert;
	time_t na;
	int i;

	for (i = 0; i < sk_X509_num(s->chain); i++) {
		x = sk_X509_value(s->chain, i);
		if ((subj = pf_x509_name(X509_get_subject_name(x))) == NULL) {
			err = pf_error_nomem();
			goto done;
		}
		snprintf(what, sizeof(what), "%s: certificate %d (%s)",
		    opts->chain_path, i + 1, subj);
		if (!issued_by(x, prev, &why)) {
			if (i == 0)
				err = pf_error_fmt(PF_EX_CONFIG, "%s did not "
				    "issue %s (%s): %s", what, opts->cert_path,
				    s->subject, why);
			else
				err = pf_error_fmt(PF_EX_CONFIG, "%s did not "
				    "issue certificate %d (%s): %s", what, i,
				    prevsubj, why);
			goto done;
		}
		if ((err = check_validity(x, what, opts->now, &na)) != NULL)
			goto done;
		if ((long long)na - opts->now < opts->warn_secs)
			warn_expiry(warn, what, na, opts->now);
		else if (na < s->not_after) {
			pf_time_iso(na, iso, sizeof(iso));
			pf_time_iso(s->not_after, siso, sizeof(siso));
			pf_warnf(warn, "%s expires on %s, before "
			    "%s (%s)", what, iso, opts->cert_path, siso);
		}
		prev = x;
		free(prevsubj);
		prevsubj = subj;
		subj = NULL;
	}
done:
	free(subj);
	free(prevsubj);
	return err;
}

/* Key type name and signature algorithm. */
static struct pf_error *
check_key(struct pf_signer *s, const char *key_path)
{
	char group[64];
	const char *nist;
	int nid;

	if (EVP_PKEY_is_a(s->key, "RSA")) {
		s->is_rsa = 1;
		s->sigalg = alg_rsa;
		s->sigalg_len = sizeof(alg_rsa);
		snprintf(s->keytype, sizeof(s->keytype), "RSA-%d",
		    EVP_PKEY_get_bits(s->key));
	} else if (EVP_PKEY_is_a(s->key, "EC")) {
		s->sigalg = alg_ecdsa_sha256;
		s->sigalg_len = sizeof(alg_ecdsa_sha256);
		if (!EVP_PKEY_get_group_name(s->key, group, sizeof(group),
		    NULL))
			return pf_error_ssl(PF_EX_CONFIG,
			    "%s: EC key without a named curve", key_path);
		nid = OBJ_txt2nid(group);
		nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
		snprintf(s->keytype, sizeof(s->keytype), "EC-%s",
		    nist != NULL ? nist : group);
	} else
		return pf_error_fmt(PF_EX_CONFIG, "%s: unsupported key type "
		    "%s (RSA or EC needed)", key_path,
		    EVP_PKEY_get0_type_name(s->key));
	if (EVP_PKEY_get_size(s->key) <= 0)
		return pf_error_ssl(PF_EX_CONFIG, "%s: unusable key",
		    key_path);
	s->sig_max = (size_t)EVP_PKEY_get_size(s->key);
	return NULL;
}

struct der_blob {
	uint8_t *p;		/* from i2d_X509, OPENSSL_free */
	size_t len;
};

/* DER SET OF order: bytewise, a prefix first. */
static int
der_cmp(const void *a, const void *b)
{
	const struct der_blob *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c;

	c = memcmp(x->p, y->p, n);
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/* Build s->certs, s->si_head and the fingerprint. */
static struct pf_error *
precompute(struct pf_signer *s)
{
	struct pf_error *err = NULL;
	struct pf_buf b = { 0 };
	struct der_blob *blobs = NULL;
	uint8_t md[PF_SHA256_LEN];
	uint8_t *name = NULL, *serial = NULL;
	size_t total = 0;
	X509 *x;
	int i, n, l, nlen, slen;

	n = 1 + sk_X509_num(s->chain);
	if ((blobs = calloc((size_t)n, sizeof(*blobs))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	for (i = 0; i < n; i++) {
		x = i == 0 ? s->cert : sk_X509_value(s->chain, i - 1);
		if ((l = i2d_X509(x, &blobs[i].p)) <= 0) {
			err = pf_error_ssl(PF_EX_SOFTWARE,
			    "cannot encode certificate");
			goto done;
		}
		blobs[i].len = (size_t)l;
		total += blobs[i].len;
	}
	pf_sha256(blobs[0].p, blobs[0].len, md);
	pf_hex(md, sizeof(md), s->fingerprint);

	qsort(blobs, (size_t)n, sizeof(*blobs), der_cmp);
	if ((err = buf_hdr(&b, 0xa0, total)) != NULL)
		goto done;
	for (i = 0; i < n; i++)
		if ((err = pf_buf_add(&b, blobs[i].p, blobs[i].len)) != NULL)
			goto done;
	s->certs = (uint8_t *)b.data;
	s->certs_len = b.len;
	memset(&b, 0, sizeof(b));

	/* version 1, issuerAndSerialNumber, digestAlgorithm */
	nlen = i2d_X509_NAME(X509_get_issuer_name(s->cert), &name);
	slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(s->cert), &serial);
	if (nlen <= 0 || slen <= 0) {
		err = pf_error_ssl(PF_EX_SOFTWARE,
		    "cannot encode the signer's issuer and serial number");
		goto done;
	}
	if ((err = pf_buf_add(&b, "\x02\x01\x01", 3)) != NULL ||
	    (err = buf_hdr(&b, 0x30, (size_t)nlen + (size_t)slen)) != NULL ||
	    (err = pf_buf_add(&b, name, (size_t)nlen)) != NULL ||
	    (err = pf_buf_add(&b, serial, (size_t)slen)) != NULL ||
	    (err = pf_buf_add(&b, alg_sha256, sizeof(alg_sha256))) != NULL)
		goto done;
	s->si_head = (uint8_t *)b.data;
	s->si_head_len = b.len;
	memset(&b, 0, sizeof(b));
done:
	if (blobs != NULL)
		for (i = 0; i < n; i++)
			OPENSSL_free(blobs[i].p);
	free(blobs);
	OPENSSL_free(name);
	OPENSSL_free(serial);
	pf_buf_free(&b);
	return err;
}

/* A warning when the secret in file path can be read by other users. */
static void
warn_readable(const struct pf_warn *warn, const char *what, const char *path)
{
	struct stat sb;

	if (stat(path, &sb) == 0 && (sb.st_mode & 044) != 0)
		pf_warnf(warn, "%s %s can be read by other users (mode %04o); "
		    "chmod 600 it", what, path, (unsigned)(sb.st_mode & 07777));
}

struct pf_error *
pf_signer_load(struct pf_signer **out, const struct pf_signer_opts *opts,
    const struct pf_warn *warn)
{
	struct pf_error *err = NULL;
	struct pf_signer *s = NULL;
	char what[PF_ERRMSG_MAX / 2];
	uint32_t ku;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((err = load_cert(opts->cert_path, &s->cert)) != NULL)
		goto done;
	if ((s->subject = pf_x509_name(X509_get_subject_name(s->cert))) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((err = load_key(opts->key_path, opts->key_pass, &s->key)) != NULL)
		goto done;
	warn_readable(warn, "signer key", opts->key_path);
	if (opts->key_pass != NULL && strncmp(opts->key_pass, "file:", 5) == 0)
		warn_readable(warn, "passphrase file", opts->key_pass + 5);
	if ((err = check_key(s, opts->key_path)) != NULL)
		goto done;
	if (X509_check_private_key(s->cert, s->key) != 1) {
		ERR_clear_error();
		err = pf_error_fmt(PF_EX_CONFIG, "%s: private key does not "
		    "match certificate %s", opts->key_path, opts->cert_path);
		goto done;
	}
	snprintf(what, sizeof(what), "%s: certificate", opts->cert_path);
	if ((err = check_validity(s->cert, what, opts->now,
	    &s->not_after)) != NULL)
		goto done;

	/* Also caches the extensions, so later use is read-only. */
	if (X509_get_extension_flags(s->cert) & EXFLAG_INVALID) {
		err = pf_error_fmt(PF_EX_CONFIG,
		    "%s: certificate has invalid extensions", opts->cert_path);
		goto done;
	}
	ku = X509_get_key_usage(s->cert);
	if (ku != UINT32_MAX && (ku & KU_DIGITAL_SIGNATURE) == 0) {
		err = pf_error_fmt(PF_EX_CONFIG, "%s: certificate key usage "
		    "does not allow digitalSignature", opts->cert_path);
		goto done;
	}

	if (opts->chain_path != NULL) {
		if ((err = load_chain(opts->chain_path, &s->chain)) != NULL)
			goto done;
	} else if ((s->chain = sk_X509_new_null()) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	if ((err = check_chain(s, opts, warn)) != NULL)
		goto done;
	if ((long long)s->not_after - opts->now < opts->warn_secs)
		warn_expiry(warn, what, s->not_after, opts->now);

	s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (s->md == NULL) {
		err = pf_error_ssl(PF_EX_SOFTWARE, "cannot fetch SHA-256");
		goto done;
	}
	if ((err = precompute(s)) != NULL)
		goto done;
	*out = s;
	s = NULL;
done:
	pf_signer_free(s);
	return err;
}

void
pf_signer_free(struct pf_signer *s)
{
	if (s == NULL)
		return;
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	EVP_PKEY_free(s->key);
	EVP_MD_free(s->md);
	free(s->subject);
	free(s->certs);
	free(s->si_head);
	free(s);
}

const char *
pf_signer_fingerprint(const struct pf_signer *s)
{
	return s->fingerprint;
}

const char *
pf_signer_subject(const struct pf_signer *s)
{
	return s->subject;
}

time_t
pf_signer_not_after(const struct pf_signer *s)
{
	return s->not_after;
}

const char *
pf_signer_keytype(const struct pf_signer *s)
{
	return s->keytype;
}

struct pf_error *
pf_sign_ctx_new(struct pf_sign_ctx **out, const struct pf_signer *s)
{
	struct pf_error *err = NULL;
	struct pf_sign_ctx *c = NULL;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->sig = malloc(s->sig_max)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	c->s = s;
	c->time_at = (time_t)-1;
	c->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->key, NULL);
	c->mdctx = EVP_MD_CTX_new();
	if (c->pctx == NULL || c->mdctx == NULL ||
	    EVP_PKEY_sign_init(c->pctx) != 1 ||
	    (s->is_rsa && EVP_PKEY_CTX_set_rsa_padding(c->pctx,
	    RSA_PKCS1_PADDING) != 1) ||
	    EVP_PKEY_CTX_set_signature_md(c->pctx, s->md) != 1) {
		err = pf_error_ssl(PF_EX_SOFTWARE,
		    "cannot prepare a signing context");
		goto done;
	}
	*out = c;
	c = NULL;
done:
	pf_sign_ctx_free(c);
	return err;
}

void
pf_sign_ctx_free(struct pf_sign_ctx *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_CTX_free(c->pctx);
	EVP_MD_CTX_free(c->mdctx);
	free(c->sig);
	free(c);
}

static int
digest(struct pf_sign_ctx *c, const void *p, size_t n,
    uint8_t out[PF_SHA256_LEN])
{
	return EVP_DigestInit_ex2(c->mdctx, c->s->md, NULL) == 1 &&
	    EVP_DigestUpdate(c->mdctx, p, n) == 1 &&
	    EVP_DigestFinal_ex(c->mdctx, out, NULL) == 1;
}

/* Encode t as a CMS Time: UTCTime in 1950-2049, else GeneralizedTime. */
static int
encode_time(struct pf_sign_ctx *c, time_t t)
{
	struct tm tm;
	char s[32];
	int n;

	if (gmtime_r(&t, &tm) == NULL)
		return 0;
	n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	if (n != 15)
		return 0;
	if (tm.tm_year >= 50 && tm.tm_year < 150) {
		c->time_der[0] = 0x17;
		c->time_der[1] = 13;
		memcpy(c->time_der + 2, s + 2, 13);
		c->time_len = 15;
	} else {
		c->time_der[0] = 0x18;
		c->time_der[1] = 15;
		memcpy(c->time_der + 2, s, 15);
		c->time_len = 17;
	}
	c->time_at = t;
	return 1;
}

/*
 * The signed attributes as a DER SET (tag 0x31, what is signed) into
 * out[PF_ATTRS_MAX]; returns its length.  In DER order: contentType
 * (30 18), signingTime (30 1c or 30 1e), messageDigest (30 2f).
 */
static size_t
signed_attrs(const struct pf_sign_ctx *c, const uint8_t md[PF_SHA256_LEN],
    uint8_t *out)
{
	size_t stime, body;
	uint8_t *p;

	stime = sizeof(attr_signing_time_oid) + der_tlv_size(c->time_len);
	body = sizeof(attr_content_type) + der_tlv_size(stime) +
	    sizeof(attr_message_digest) + PF_SHA256_LEN;
	p = der_put_hdr(out, 0x31, body);
	p = der_put(p, attr_content_type, sizeof(attr_content_type));
	p = der_put_hdr(p, 0x30, stime);
	p = der_put(p, attr_signing_time_oid, sizeof(attr_signing_time_oid));
	p = der_put_hdr(p, 0x31, c->time_len);
	p = der_put(p, c->time_der, c->time_len);
	p = der_put(p, attr_message_digest, sizeof(attr_message_digest));
	p = der_put(p, md, PF_SHA256_LEN);
	return (size_t)(p - out);
}

struct pf_error *
pf_sign(struct pf_sign_ctx *c, const void *data, size_t len, uint8_t **der,
    size_t *derlen)
{
	const struct pf_signer *s = c->s;
	uint8_t attrs[PF_ATTRS_MAX], cmd[PF_SHA256_LEN], amd[PF_SHA256_LEN];
	uint8_t *out = NULL, *p;
	size_t alen, siglen, octet, econt, eci, si, sis, sd, ci, total;
	time_t now;

	*der = NULL;
	*derlen = 0;
	if (len > SIZE_MAX / 4)
		return pf_error_fmt(PF_EX_SOFTWARE, "profile too large to "
		    "sign (%zu bytes)", len);
	now = time(NULL);
	if (now != c->time_at && !encode_time(c, now))
		return pf_error_fmt(PF_EX_SOFTWARE,
		    "cannot encode the signing time");
	if (!digest(c, data, len, cmd))
		return pf_error_ssl(PF_EX_SOFTWARE, "cannot hash profile");
	alen = signed_attrs(c, cmd, attrs);
	if (!digest(c, attrs, alen, amd))
		return pf_error_ssl(PF_EX_SOFTWARE, "cannot hash profile");
	siglen = s->sig_max;
	if (EVP_PKEY_sign(c->pctx, c->sig, &siglen, amd, sizeof(amd)) != 1)
		return pf_error_ssl(PF_EX_SOFTWARE, "cannot sign profile");

	si = s->si_head_len + alen + s->sigalg_len + der_tlv_size(siglen);
	sis = der_tlv_size(si);
	octet = der_tlv_size(len);
	econt = sizeof(oid_data) + der_tlv_size(octet);
	eci = der_tlv_size(econt);
	sd = sizeof(sd_head) + eci + s->certs_len + der_tlv_size(sis);
	ci = sizeof(oid_signed_data) + der_tlv_size(der_tlv_size(sd));
	total = der_tlv_size(ci);
	if ((out = malloc(total)) == NULL)
		return pf_error_nomem();

	p = der_put_hdr(out, 0x30, ci);
	p = der_put(p, oid_signed_data, sizeof(oid_signed_data));
	p = der_put_hdr(p, 0xa0, der_tlv_size(sd));
	p = der_put_hdr(p, 0x30, sd);
	p = der_put(p, sd_head, sizeof(sd_head));
	p = der_put_hdr(p, 0x30, econt);
	p = der_put(p, oid_data, sizeof(oid_data));
	p = der_put_hdr(p, 0xa0, octet);
	p = der_put_hdr(p, 0x04, len);
	p = der_put(p, data, len);
	p = der_put(p, s->certs, s->certs_len);
	p = der_put_hdr(p, 0x31, sis);
	p = der_put_hdr(p, 0x30, si);
	p = der_put(p, s->si_head, s->si_head_len);
	*p++ = 0xa0;		/* signedAttrs [0] IMPLICIT: retag the SET */
	p = der_put(p, attrs + 1, alen - 1);
	p = der_put(p, s->sigalg, s->sigalg_len);
	p = der_put_hdr(p, 0x04, siglen);
	p = der_put(p, c->sig, siglen);
	if ((size_t)(p - out) != total) {
		free(out);
		return pf_error_fmt(PF_EX_SOFTWARE, "signed profile length "
		    "mismatch (%zu, expected %zu)", (size_t)(p - out), total);
	}
	*der = out;
	*derlen = total;
	return NULL;
}
