/*
 * Unit tests for sign: signer checks and CMS signing.  The PKI comes from
 * scripts/mkpki (RSA and EC) in a temporary directory, kept on failure;
 * signed output is checked with the openssl command-line tool.
 */
#include <sys/wait.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "sign.h"
#include "util.h"
#include "t.h"

#define DAY	86400LL

static char tmp[256];		/* the mkdtemp directory */

/* Path of name in tmp/kind ("rsa", "ec") or tmp ("" kind); ring buffer. */
static const char *
P(const char *kind, const char *name)
{
	static char ring[16][512];
	static int next;
	char *p = ring[next++ % 16];

	if (*kind == '\0')
		snprintf(p, 512, "%s/%s", tmp, name);
	else
		snprintf(p, 512, "%s/%s/%s", tmp, kind, name);
	return p;
}

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return 0;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok;
}

/* Whole file into a malloc'd buffer; NULL on failure. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (*len == cap) {
			uint8_t *nb = realloc(buf, cap * 2 + 4096);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = cap * 2 + 4096;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

struct warns {
	int n;
	char all[4096];
};

static void
collect(void *arg, const char *msg)
{
	struct warns *w = arg;
	size_t len = strlen(w->all);

	w->n++;
	snprintf(w->all + len, sizeof(w->all) - len, "%s\n", msg);
}

struct load_args {
	const char *cert, *key, *chain, *pass;
	time_t now;			/* 0: time(NULL) */
	long long warn_secs;		/* 0: 30 days */
};

/*
 * Load a signer; with out == NULL a loaded signer is freed at once.
 * Warnings go to w (may be NULL).
 */
static struct pf_error *
load(const struct load_args *a, struct warns *w, struct pf_signer **out)
{
	struct pf_signer_opts o;
	struct pf_warn warn = { collect, w };
	struct pf_signer *s = NULL;
	struct pf_error *err;

	memset(&o, 0, sizeof(o));
	o.cert_path = a->cert;
	o.key_path = a->key;
	o.chain_path = a->chain;
	o.key_pass = a->pass;
	o.now = a->now != 0 ? a->now : time(NULL);
	o.warn_secs = a->warn_secs != 0 ? a->warn_secs : 30 * DAY;
	err = pf_signer_load(&s, &o, w != NULL ? &warn : NULL);
	if (err == NULL && s == NULL)
		return pf_error_fmt(PF_EX_SOFTWARE, "test: no signer");
	if (out != NULL)
		*out = s;
	else
		pf_signer_free(s);
	return err;
}

/* The usual signer of a PKI: signer.pem, signer.key, chain.pem. */
static struct load_args
std_args(const char *kind)
{
	struct load_args a;

	memset(&a, 0, sizeof(a));
	a.cert = P(kind, "signer.pem");
	a.key = P(kind, "signer.key");
	a.chain = P(kind, "chain.pem");
	return a;
}

/* SHA-256 fingerprint from the openssl tool, as lowercase hex. */
static int
openssl_fingerprint(const char *cert, char out[PF_SHA256_HEX])
{
	char cmd[1024], line[512], *p;
	FILE *f;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd),
	    "openssl x509 -in '%s' -noout -fingerprint -sha256", cert);
	if ((f = popen(cmd, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL) {
		pclose(f);
		return 0;
	}
	pclose(f);
	if ((p = strchr(line, '=')) == NULL)
		return 0;
	for (p++; *p != '\0' && *p != '\n'; p++) {
		if (*p == ':')
			continue;
		if (n >= PF_SHA256_HEX - 1)
			return 0;
		out[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' :
		    *p);
	}
	out[n] = '\0';
	return n == PF_SHA256_HEX - 1;
}

static void
t_load_rsa(void)
{
	struct load_args a = std_args("rsa");
	struct pf_signer *s = NULL;
	struct warns w = { 0 };
	char fp[PF_SHA256_HEX];
	time_t now = time(NULL);

	T_OK(load(&a, &w, &s));
	T_CHECK(w.n == 0);
	T_CHECK(strcmp(pf_signer_keytype(s), "RSA-2048") == 0);
	T_CHECK(strcmp(pf_signer_subject(s),
	    "CN=profactory demo profile signer,O=profactory demo") == 0);
	T_CHECK(openssl_fingerprint(a.cert, fp));
	T_CHECK(strcmp(pf_signer_fingerprint(s), fp) == 0);
	T_CHECK(pf_signer_not_after(s) > now + 824 * DAY &&
	    pf_signer_not_after(s) < now + 826 * DAY);
	pf_signer_free(s);
}

static void
t_load_ec(void)
{
	struct load_args a = std_args("ec");
	struct pf_signer *s = NULL;
	struct warns w = { 0 };
	char fp[PF_SHA256_HEX];

	T_OK(load(&a, &w, &s));
	T_CHECK(w.n == 0);
	T_CHECK(strcmp(pf_signer_keytype(s), "EC-P-256") == 0);
	T_CHECK(openssl_fingerprint(a.cert, fp));
	T_CHECK(strcmp(pf_signer_fingerprint(s), fp) == 0);
	pf_signer_free(s);

	/* no chain at all is fine too */
	a.chain = NULL;
	T_OK(load(&a, &w, NULL));
	T_CHECK(w.n == 0);
}

static void
t_missing(void)
{
	struct load_args a = std_args("rsa");

	a.cert = P("rsa", "nonexistent.pem");
	T_ERR(load(&a, NULL, NULL), PF_EX_NOINPUT, "nonexistent.pem: ");
	a = std_args("rsa");
	a.key = P("rsa", "nonexistent.key");
	T_ERR(load(&a, NULL, NULL), PF_EX_NOINPUT, "nonexistent.key: ");
	a = std_args("rsa");
	a.chain = P("rsa", "nonexistent-chain.pem");
	T_ERR(load(&a, NULL, NULL), PF_EX_NOINPUT, "nonexistent-chain.pem: ");
	a = std_args("rsa");
	a.cert = tmp;		/* a directory */
	T_ERR(load(&a, NULL, NULL), PF_EX_NOINPUT, tmp);
}

static void
t_unparsable(void)
{
	static const char junk[] = "this is not PEM\n";
	struct load_args a;
	char want[600];

	T_REQUIRE(write_file(P("", "junk.pem"), junk, sizeof(junk) - 1));
	T_REQUIRE(write_file(P("", "empty.pem"), "", 0));
	T_REQUIRE(write_file(P("", "blank.pem"), "\n \r\n\t\n", 6));

	a = std_args("rsa");
	a.cert = P("", "junk.pem");
	snprintf(want, sizeof(want), "%s: not a PEM certificate", a.cert);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);
	a.cert = P("rsa", "signer.key");	/* a key, not a certificate */
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, "not a PEM certificate");

	a = std_args("rsa");
	a.key = P("", "junk.pem");
	snprintf(want, sizeof(want), "%s: no PEM private key found", a.key);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);
	a.key = P("rsa", "signer.pem");		/* a certificate, not a key */
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, "no PEM private key found");
	/* a damaged key */
	T_REQUIRE(t_sh("sed 3d '%s' > '%s'", P("rsa", "signer.key"),
	    P("", "damaged.key")) == 0);
	a.key = P("", "damaged.key");
	snprintf(want, sizeof(want), "%s: not a PEM private key", a.key);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);

	a = std_args("rsa");
	a.chain = P("", "junk.pem");
	snprintf(want, sizeof(want), "%s: no PEM certificate found", a.chain);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);
	a.chain = P("", "empty.pem");		/* zero certificates */
	T_OK(load(&a, NULL, NULL));
	a.chain = P("", "blank.pem");
	T_OK(load(&a, NULL, NULL));
}

static void
t_mismatch(void)
{
	struct load_args a = std_args("rsa");
	char want[1200];

	a.key = P("rsa", "other.key");
	snprintf(want, sizeof(want), "%s: private key does not match "
	    "certificate %s", a.key, a.cert);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);
	a.key = P("ec", "signer.key");		/* other type */
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "private key does not match certificate");
	a = std_args("ec");
	a.key = P("ec", "other.key");
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "private key does not match certificate");
}

static void
t_validity(void)
{
	struct load_args a = std_args("rsa");
	char want[600];

	a.cert = P("rsa", "signer-expired.pem");
	a.key = P("rsa", "signer-expired.key");
	snprintf(want, sizeof(want), "%s: certificate expired on "
	    "2025-01-01T00:00:00Z", a.cert);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);

	a = std_args("ec");
	a.now = 1000000000;		/* 2001: before every certificate */
	snprintf(want, sizeof(want), "%s: certificate not valid before ",
	    a.cert);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);
}

static void
t_key_usage(void)
{
	struct load_args a;
	char want[600];
	const char *kinds[] = { "rsa", "ec" };
	size_t i;

	for (i = 0; i < 2; i++) {
		a = std_args(kinds[i]);
		a.cert = P(kinds[i], "signer-nodigsig.pem");
		a.key = P(kinds[i], "signer-nodigsig.key");
		snprintf(want, sizeof(want), "%s: certificate key usage does "
		    "not allow digitalSignature", a.cert);
		T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);
	}
}

static void
t_chain(void)
{
	struct load_args a = std_args("rsa");
	char want[1200];

	/* the root did not issue the signer */
	a.chain = P("rsa", "root.pem");
	snprintf(want, sizeof(want), "%s: certificate 1 (CN=profactory demo "
	    "root CA,O=profactory demo) did not issue %s", a.chain, a.cert);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, want);

	/* another PKI's intermediate: same names, other keys */
	a.chain = P("ec", "inter.pem");
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG, "did not issue");

	/* intermediate then its root: fine */
	T_REQUIRE(t_sh("cat '%s' '%s' > '%s'", P("rsa", "inter.pem"),
	    P("rsa", "root.pem"), P("", "inter-root.pem")) == 0);
	a.chain = P("", "inter-root.pem");
	T_OK(load(&a, NULL, NULL));

	/* intermediate then a root that did not issue it */
	T_REQUIRE(t_sh("cat '%s' '%s' > '%s'", P("rsa", "inter.pem"),
	    P("ec", "root.pem"), P("", "inter-badroot.pem")) == 0);
	a.chain = P("", "inter-badroot.pem");
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "certificate 2 (CN=profactory demo root CA,O=profactory demo) "
	    "did not issue certificate 1 (CN=profactory demo intermediate "
	    "CA,O=profactory demo)");

	/*
	 * An impostor intermediate: the real one's subject and key
	 * identifier, another key.  Names and identifiers match; only the
	 * signature check can tell.
	 */
	T_REQUIRE(t_sh("cd '%s' && openssl genpkey -algorithm EC "
	    "-pkeyopt ec_paramgen_curve:P-256 -out fake.key 2>/dev/null && "
	    "skid=$(openssl x509 -in ec/inter.pem -noout -ext "
	    "subjectKeyIdentifier | sed -n 2p | tr -d ' :') && "
	    "openssl req -new -x509 -key fake.key -days 30 "
	    "-subj '/O=profactory demo/CN=profactory demo intermediate CA' "
	    "-addext basicConstraints=critical,CA:TRUE "
	    "-addext keyUsage=critical,keyCertSign "
	    "-addext subjectKeyIdentifier=$skid -out fake-inter.pem "
	    "2>/dev/null", tmp) == 0);
	a = std_args("ec");
	a.chain = P("", "fake-inter.pem");
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "signature does not verify");
}

static void
t_expiry_warnings(void)
{
	struct load_args a = std_args("rsa");
	struct warns w = { 0 };
	char want[600];

	a.cert = P("rsa", "signer-soon.pem");
	a.key = P("rsa", "signer-soon.key");
	T_OK(load(&a, &w, NULL));
	snprintf(want, sizeof(want), "%s: certificate expires on ", a.cert);
	T_CHECK(w.n == 1);
	T_CHECK(strstr(w.all, want) != NULL);
	T_CHECK(strstr(w.all, "(in 10 days)") != NULL);

	/* a long horizon: the signer and the intermediate both warn */
	memset(&w, 0, sizeof(w));
	a = std_args("ec");
	a.warn_secs = 10 * 366 * DAY;
	T_OK(load(&a, &w, NULL));
	T_CHECK(w.n == 2);
	T_CHECK(strstr(w.all, "chain.pem: certificate 1 (CN=profactory demo "
	    "intermediate CA,O=profactory demo) expires on ") != NULL);
	T_CHECK(strstr(w.all, "signer.pem: certificate expires on ") !=
	    NULL);

	/* an intermediate that expires before the signer it issued */
	T_REQUIRE(t_sh("(cd '%s' && "
	    "printf 'basicConstraints=critical,CA:TRUE\\n"
	    "keyUsage=critical,keyCertSign\\n' > ca.ext && "
	    "printf 'keyUsage=critical,digitalSignature\\n' > ee.ext && "
	    "openssl req -new -key ec/inter.key -subj '/CN=short inter' "
	    "-out short.csr && "
	    "openssl x509 -req -in short.csr -CA ec/root.pem "
	    "-CAkey ec/root.key -set_serial 7 -days 100 -extfile ca.ext "
	    "-out short-inter.pem && "
	    "openssl req -new -key ec/signer.key -subj '/CN=long signer' "
	    "-out long.csr && "
	    "openssl x509 -req -in long.csr -CA short-inter.pem "
	    "-CAkey ec/inter.key -set_serial 8 -days 400 -extfile ee.ext "
	    "-out long-signer.pem) >/dev/null 2>&1", tmp) == 0);
	memset(&w, 0, sizeof(w));
	a = std_args("ec");
	a.cert = P("", "long-signer.pem");
	a.chain = P("", "short-inter.pem");
	T_OK(load(&a, &w, NULL));
	T_CHECK(w.n == 1);
	T_CHECK(strstr(w.all, "short-inter.pem: certificate 1 (CN=short "
	    "inter) expires on ") != NULL);
	T_CHECK(strstr(w.all, "before ") != NULL);

	/* later, the signer is still valid but its issuer has expired */
	a.now = time(NULL) + 200 * DAY;
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "short-inter.pem: certificate 1 (CN=short inter) expired on ");
}

static void
t_encrypted_key(void)
{
	struct load_args a = std_args("rsa");
	struct pf_error *err;
	char spec[600];

	a.key = P("rsa", "signer-enc.key");
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "signer-enc.key: private key is encrypted: give its passphrase "
	    "with --key-pass env:VAR or file:PATH");

	T_REQUIRE(setenv("PF_TEST_KEY_PASS", "demo-pass", 1) == 0);
	a.pass = "env:PF_TEST_KEY_PASS";
	T_OK(load(&a, NULL, NULL));

	T_REQUIRE(write_file(P("", "pass1"), "demo-pass\nignored\n", 18));
	T_REQUIRE(write_file(P("", "pass2"), "demo-pass\r\n", 11));
	T_REQUIRE(write_file(P("", "pass3"), "demo-pass", 9));
	T_REQUIRE(write_file(P("", "pass4"), "demo-pass-not\n", 14));
	snprintf(spec, sizeof(spec), "file:%s", P("", "pass1"));
	a.pass = spec;
	T_OK(load(&a, NULL, NULL));
	snprintf(spec, sizeof(spec), "file:%s", P("", "pass2"));
	T_OK(load(&a, NULL, NULL));
	snprintf(spec, sizeof(spec), "file:%s", P("", "pass3"));
	T_OK(load(&a, NULL, NULL));
	snprintf(spec, sizeof(spec), "file:%s", P("", "pass4"));
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "signer-enc.key: cannot decrypt private key");
	snprintf(spec, sizeof(spec), "file:%s", P("", "no-such-pass"));
	T_ERR(load(&a, NULL, NULL), PF_EX_NOINPUT, "no-such-pass: ");

	/* a wrong passphrase never shows in the message */
	T_REQUIRE(setenv("PF_TEST_KEY_PASS", "wrong-secret-xyzzy", 1) == 0);
	a.pass = "env:PF_TEST_KEY_PASS";
	err = load(&a, NULL, NULL);
	T_CHECK(err != NULL && err->code == PF_EX_CONFIG &&
	    strstr(err->msg, "cannot decrypt") != NULL &&
	    strstr(err->msg, "xyzzy") == NULL);
	pf_error_free(err);

	T_REQUIRE(unsetenv("PF_TEST_KEY_PASS") == 0);
	T_ERR(load(&a, NULL, NULL), PF_EX_CONFIG,
	    "--key-pass env:PF_TEST_KEY_PASS: environment variable "
	    "PF_TEST_KEY_PASS is not set");

	/* the passphrase itself given by mistake: not repeated */
	a.pass = "demo-pass";
	err = load(&a, NULL, NULL);
	T_CHECK(err != NULL && err->code == PF_EX_USAGE &&
	    strstr(err->msg, "env:VAR or file:PATH") != NULL &&
	    strstr(err->msg, "demo-pass") == NULL);
	pf_error_free(err);

	/* a passphrase for a key that needs none is harmless */
	a = std_args("ec");
	snprintf(spec, sizeof(spec), "file:%s", P("", "pass1"));
	a.pass = spec;
	T_OK(load(&a, NULL, NULL));
}

/*
 * Sign data and check the result with the openssl tool: it verifies
 * against the root alone (so the intermediate travels inside), and the
 * content it extracts is byte for byte the input.  name tags the files.
 */
static int
sign_and_verify(struct pf_sign_ctx *c, const char *kind, const char *name,
    const void *data, size_t len)
{
	struct pf_error *err;
	uint8_t *der = NULL, *got = NULL;
	size_t derlen, gotlen;
	char in[512], out[512];
	int ok = 0;

	snprintf(in, sizeof(in), "%s/%s.der", tmp, name);
	snprintf(out, sizeof(out), "%s/%s.out", tmp, name);
	if ((err = pf_sign(c, data, len, &der, &derlen)) != NULL) {
		fprintf(stderr, "pf_sign: %s\n", err->msg);
		pf_error_free(err);
		goto done;
	}
	if (!write_file(in, der, derlen))
		goto done;
	if (t_sh("openssl cms -verify -inform DER -in '%s' -CAfile '%s' "
	    "-purpose any -out '%s' 2>'%s.err'", in, P(kind, "root.pem"),
	    out, in) != 0) {
		fprintf(stderr, "%s: openssl cms -verify failed\n", in);
		goto done;
	}
	if ((got = slurp(out, &gotlen)) == NULL || gotlen != len ||
	    (len > 0 && memcmp(got, data, len) != 0)) {
		fprintf(stderr, "%s: content differs from the input\n", out);
		goto done;
	}
	ok = 1;
done:
	free(der);
	free(got);
	return ok;
}

static void
sign_kind(const char *kind)
{
	static const size_t sizes[] = { 0, 1, 127, 128, 255, 256, 3600,
	    65535, 65536, 200000 };
	struct load_args a = std_args(kind);
	struct pf_signer *s = NULL;
	struct pf_sign_ctx *c = NULL, *c2 = NULL;
	uint8_t *data = NULL;
	char name[64], der[512];
	size_t i, j;

	T_OK(load(&a, NULL, &s));
	T_OK(pf_sign_ctx_new(&c, s));
	if ((data = malloc(200000)) == NULL)
		goto done;
	/* text with CRLF, LF, a NUL, high bytes: nothing may change */
	for (j = 0; j < 200000; j++)
		data[j] = (uint8_t)("<string>x\r\n</string>\n\0\xff\xc3"[j % 25]
		    + j / 25 % 3);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "%s-%zu", kind, sizes[i]);
		T_CHECK(sign_and_verify(c, kind, name, data, sizes[i]));
	}

	snprintf(der, sizeof(der), "%s/%s-3600.der", tmp, kind);
	/* S/MIME's verify too, and the default purpose (emailProtection) */
	T_CHECK(t_sh("openssl smime -verify -inform DER -in '%s' -CAfile '%s' "
	    "-purpose any -out /dev/null 2>/dev/null", der,
	    P(kind, "root.pem")) == 0);
	T_CHECK(t_sh("openssl cms -verify -inform DER -in '%s' -CAfile '%s' "
	    "-out /dev/null 2>/dev/null", der, P(kind, "root.pem")) == 0);
	/* another root must not do */
	T_CHECK(t_sh("openssl cms -verify -inform DER -in '%s' -CAfile '%s' "
	    "-purpose any -out /dev/null 2>/dev/null", der,
	    P(strcmp(kind, "rsa") == 0 ? "ec" : "rsa", "root.pem")) != 0);
	/* parses; the expected attributes and algorithms; nothing else */
	T_CHECK(t_sh("openssl cms -cmsout -print -inform DER -in '%s' > "
	    "'%s.txt'", der, der) == 0);
	T_CHECK(t_sh("grep -q 'signingTime' '%s.txt' && "
	    "grep -q 'messageDigest' '%s.txt' && "
	    "grep -q 'contentType' '%s.txt' && "
	    "! grep -qi 'capabilities' '%s.txt' && "
	    "grep -q 'algorithm: sha256 ' '%s.txt' && "
	    "grep -q '%s' '%s.txt' && "
	    "test $(grep -c 'd.certificate:' '%s.txt') -eq 2", der, der, der,
	    der, der, strcmp(kind, "rsa") == 0 ? "algorithm: rsaEncryption" :
	    "algorithm: ecdsa-with-SHA256", der, der) == 0);
	/* canonical DER: openssl re-encodes it to the same bytes */
	T_CHECK(t_sh("openssl cms -cmsout -inform DER -in '%s' -outform DER "
	    "-out '%s.re' && cmp -s '%s' '%s.re'", der, der, der, der) == 0);

	/* a second context on the same signer */
	T_OK(pf_sign_ctx_new(&c2, s));
	snprintf(name, sizeof(name), "%s-ctx2", kind);
	T_CHECK(sign_and_verify(c2, kind, name, data, 4000));
done:
	free(data);
	pf_sign_ctx_free(c);
	pf_sign_ctx_free(c2);
	pf_signer_free(s);
}

static void
t_sign_rsa(void)
{
	sign_kind("rsa");
}

static void
t_sign_ec(void)
{
	sign_kind("ec");
}

/* Without --chain only the signer travels: the root alone is not enough. */
static void
t_sign_without_chain(void)
{
	struct load_args a = std_args("rsa");
	struct pf_signer *s = NULL;
	struct pf_sign_ctx *c = NULL;
	uint8_t *der = NULL;
	size_t derlen;
	char path[512];

	a.chain = NULL;
	T_OK(load(&a, NULL, &s));
	T_OK(pf_sign_ctx_new(&c, s));
	snprintf(path, sizeof(path), "%s/nochain.der", tmp);
	T_OK(pf_sign(c, "x", 1, &der, &derlen));
	T_CHECK(write_file(path, der, derlen));
	T_CHECK(t_sh("openssl cms -verify -inform DER -in '%s' -CAfile '%s' "
	    "-purpose any -out /dev/null 2>/dev/null", path,
	    P("rsa", "root.pem")) != 0);
	/* (openssl cms -verify takes untrusted certificates only from the
	 * message, so the intermediate goes with the root) */
	T_CHECK(t_sh("cat '%s' '%s' > '%s.ca' && openssl cms -verify "
	    "-inform DER -in '%s' -CAfile '%s.ca' -purpose any "
	    "-out /dev/null 2>/dev/null", P("rsa", "root.pem"),
	    P("rsa", "inter.pem"), path, path, path) == 0);
	free(der);
	pf_sign_ctx_free(c);
	pf_signer_free(s);
}

/* An encrypted key signs like any other once loaded. */
static void
t_sign_encrypted_key(void)
{
	struct load_args a = std_args("rsa");
	struct pf_signer *s = NULL;
	struct pf_sign_ctx *c = NULL;

	T_REQUIRE(setenv("PF_TEST_KEY_PASS", "demo-pass", 1) == 0);
	a.key = P("rsa", "signer-enc.key");
	a.pass = "env:PF_TEST_KEY_PASS";
	T_OK(load(&a, NULL, &s));
	unsetenv("PF_TEST_KEY_PASS");
	T_OK(pf_sign_ctx_new(&c, s));
	T_CHECK(sign_and_verify(c, "rsa", "enc", "<plist/>\n", 9));
	pf_sign_ctx_free(c);
	pf_signer_free(s);
}

struct thread_arg {
	const struct pf_signer *s;
	int n;
	int failed;
	uint8_t *last;			/* malloc'd: the last signature */
	size_t lastlen;
	char data[64];
};

static void *
signer_thread(void *p)
{
	struct thread_arg *ta = p;
	struct pf_sign_ctx *c = NULL;
	struct pf_error *err;
	int i;

	if ((err = pf_sign_ctx_new(&c, ta->s)) != NULL) {
		pf_error_free(err);
		ta->failed = 1;
		return NULL;
	}
	for (i = 0; i < ta->n; i++) {
		free(ta->last);
		ta->last = NULL;
		if ((err = pf_sign(c, ta->data, strlen(ta->data), &ta->last,
		    &ta->lastlen)) != NULL) {
			pf_error_free(err);
			ta->failed = 1;
			break;
		}
	}
	pf_sign_ctx_free(c);
	return NULL;
}

/* One signer shared by threads, each with its own context. */
static void
t_threads(void)
{
	struct load_args a = std_args("ec");
	struct pf_signer *s = NULL;
	struct thread_arg ta[4];
	pthread_t th[4];
	char path[512];
	int i, started[4] = { 0 };

	T_OK(load(&a, NULL, &s));
	memset(ta, 0, sizeof(ta));
	for (i = 0; i < 4; i++) {
		ta[i].s = s;
		ta[i].n = 200;
		snprintf(ta[i].data, sizeof(ta[i].data), "thread %d\n", i);
		started[i] = pthread_create(&th[i], NULL, signer_thread,
		    &ta[i]) == 0;
		T_CHECK(started[i]);
	}
	for (i = 0; i < 4; i++) {
		if (!started[i])
			continue;
		pthread_join(th[i], NULL);
		T_CHECK(!ta[i].failed && ta[i].last != NULL);
		if (ta[i].last == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/thread%d.der", tmp, i);
		T_CHECK(write_file(path, ta[i].last, ta[i].lastlen));
		T_CHECK(t_sh("openssl cms -verify -inform DER -in '%s' "
		    "-CAfile '%s' -purpose any -out '%s.out' 2>/dev/null && "
		    "printf 'thread %d\\n' | cmp -s - '%s.out'", path,
		    P("ec", "root.pem"), path, i, path) == 0);
		free(ta[i].last);
	}
	pf_signer_free(s);
}

int
main(void)
{
	const char *top = getenv("PROFACTORY_TOP");
	const char *tmpdir = getenv("TMPDIR");

	if (top == NULL || *top == '\0')
		top = ".";
	if (tmpdir == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	snprintf(tmp, sizeof(tmp), "%s/pf-test-sign.XXXXXX", tmpdir);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (t_sh("sh '%s/scripts/mkpki' '%s/rsa' rsa && "
	    "sh '%s/scripts/mkpki' '%s/ec' ec", top, tmp, top, tmp) != 0) {
		printf("not ok - mkpki (kept %s)\n", tmp);
		return 1;
	}

	T_RUN(t_load_rsa);
	T_RUN(t_load_ec);
	T_RUN(t_missing);
	T_RUN(t_unparsable);
	T_RUN(t_mismatch);
	T_RUN(t_validity);
	T_RUN(t_key_usage);
	T_RUN(t_chain);
	T_RUN(t_expiry_warnings);
	T_RUN(t_encrypted_key);
	T_RUN(t_sign_rsa);
	T_RUN(t_sign_ec);
	T_RUN(t_sign_without_chain);
	T_RUN(t_sign_encrypted_key);
	T_RUN(t_threads);

	if (t_nfail == 0)
		t_rm_rf(tmp);
	else
		fprintf(stderr, "test_sign: kept %s\n", tmp);
	T_DONE();
}
