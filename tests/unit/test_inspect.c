/*
 * Unit tests for inspect: crafted plists (facts, wiring, masking,
 * escaping, refusals) and profiles signed by the sign module with a PKI
 * from scripts/mkpki, checked at chosen times (expired, not yet valid).
 */
#include <sys/wait.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "inspect.h"
#include "sign.h"
#include "util.h"
#include "t.h"

#define DAY	86400LL
#define SECRET	"s3cr3t-Challenge-value"

static char tmp[256];		/* the mkdtemp directory */

/* tmp/name, NUL-terminated, malloc'd; NULL on failure. */
static char *
slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf = NULL;
	long n;

	*len = 0;
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* A profile with a SCEP payload, a Wi-Fi payload wired to it and to a
 * root payload, one dangling reference, two payloads sharing a UUID, and
 * a display name with a newline, DEL and NEL in it. */
static const char wired[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<plist version=\"1.0\"><dict>\n"
    "<key>PayloadContent</key><array>\n"
    " <dict><key>PayloadType</key><string>com.apple.security.root</string>"
    "  <key>PayloadIdentifier</key><string>x.root</string>"
    "  <key>PayloadUUID</key><string>ROOT-UUID</string></dict>\n"
    " <dict><key>PayloadType</key><string>com.apple.security.scep</string>"
    "  <key>PayloadIdentifier</key><string>x.scep</string>"
    "  <key>PayloadUUID</key><string>SCEP-UUID</string>"
    "  <key>PayloadContent</key><dict>"
    "   <key>URL</key><string>https://scep.example.com/scep</string>"
    "   <key>Subject</key><array><array><array><string>O</string>"
    "    <string>Ex &amp; Co</string></array></array>"
    "    <array><array><string>CN</string><string>Ana\nLima</string>"
    "    </array></array></array>"
    "   <key>SubjectAltName</key><dict><key>rfc822Name</key>"
    "    <string>ana@example.com</string><key>dNSName</key><array>"
    "    <string>a.example.com</string><string>b.example.com</string>"
    "    </array></dict>"
    "   <key>Challenge</key><string>" SECRET "</string>"
    "   <key>Keysize</key><integer>2048</integer>"
    "   <key>Key Type</key><string>RSA</string>"
    "   <key>Key Usage</key><integer>5</integer>"
    "  </dict></dict>\n"
    " <dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
    "  <key>PayloadIdentifier</key><string>x.wifi</string>"
    "  <key>PayloadUUID</key><string>WIFI-UUID</string>"
    "  <key>PayloadCertificateUUID</key><string>SCEP-UUID</string>"
    "  <key>EAPClientConfiguration</key><dict>"
    "   <key>PayloadCertificateAnchorUUID</key><array>"
    "    <string>ROOT-UUID</string><string>NOWHERE</string></array>"
    "  </dict></dict>\n"
    " <dict><key>PayloadType</key><string>com.example.twin</string>"
    "  <key>PayloadUUID</key><string>WIFI-UUID</string></dict>\n"
    " <string>not a payload</string>\n"
    "</array>\n"
    "<key>PayloadDisplayName</key><string>Line1\nLine2&#127;&#x85;!</string>\n"
    "<key>PayloadIdentifier</key><string>com.example.p</string>\n"
    "<key>PayloadType</key><string>Configuration</string>\n"
    "<key>PayloadUUID</key><string>TOP-UUID</string>\n"
    "</dict></plist>\n";

/* Inspect data and render both reports into text and json. */
static struct pf_error *
run(const void *data, size_t len, const char *ca, time_t now,
    struct pf_inspection **in, struct pf_buf *text, struct pf_buf *json)
{
	struct pf_inspect_opts o;
	struct pf_error *err;
	char *pem = NULL;
	size_t pemlen = 0;

	memset(&o, 0, sizeof(o));
	o.label = "test.mobileconfig";
	o.now = now;
	if (ca != NULL) {
		if ((pem = slurp(ca, &pemlen)) == NULL)
			return pf_error_fmt(PF_EX_NOINPUT, "test: %s", ca);
		o.ca_label = ca;
		o.ca_pem = pem;
		o.ca_len = pemlen;
	}
	err = pf_inspect(in, data, len, &o);
	free(pem);
	if (err == NULL)
		err = pf_inspection_text(*in, text);
	if (err == NULL)
		err = pf_inspection_json(*in, json);
	return err;
}

/* No byte below 0x20 in b: JSON strings escape every control. */
static int
no_raw_controls(const struct pf_buf *b)
{
	size_t i;

	for (i = 0; i + 1 < b->len; i++)	/* the final newline */
		if ((unsigned char)b->data[i] < 0x20)
			return 0;
	return b->len > 0 && b->data[b->len - 1] == '\n';
}

static void
t_unsigned_facts(void)
{
	struct pf_inspection *in = NULL;
	struct pf_buf text = { 0 }, json = { 0 };

	T_OK(run(wired, sizeof(wired) - 1, NULL, time(NULL), &in, &text,
	    &json));
	T_CHECK(pf_inspection_verdict(in) == PF_VERDICT_UNSIGNED);
	T_CHECK(pf_inspection_nproblems(in) == 0);
	T_CHECK(strstr(text.data, "format:             unsigned") != NULL);
	T_CHECK(strstr(text.data, "profile:            com.example.p\n") !=
	    NULL);
	T_CHECK(strstr(text.data, "PayloadContent[1]:  com.apple.security."
	    "scep\n") != NULL);
	T_CHECK(strstr(text.data, "PayloadContent[4]:  (not a dictionary)\n")
	    != NULL);
	T_CHECK(strstr(text.data, "  URL:              https://scep.example."
	    "com/scep\n") != NULL);
	T_CHECK(strstr(text.data, "  Subject:          /O=Ex & Co/CN=Ana\\n"
	    "Lima\n") != NULL);
	T_CHECK(strstr(text.data, "  SubjectAltName:   rfc822Name=ana@"
	    "example.com, dNSName=a.example.com, dNSName=b.example.com\n") !=
	    NULL);
	T_CHECK(strstr(text.data, "  Keysize:          2048\n") != NULL);
	T_CHECK(strstr(text.data, "  Key Usage:        5 (signing, "
	    "encryption)\n") != NULL);
	T_CHECK(strstr(text.data, "  Challenge:        (set, 22 characters, "
	    "masked)\n") != NULL);
	/* wiring */
	T_CHECK(strstr(text.data, "wiring:             3 references\n") !=
	    NULL);
	T_CHECK(strstr(text.data, "  PayloadContent[2].PayloadCertificateUUID"
	    " -> PayloadContent[1] (com.apple.security.scep)\n") != NULL);
	T_CHECK(strstr(text.data, "  PayloadContent[2].EAPClientConfiguration."
	    "PayloadCertificateAnchorUUID[0] -> PayloadContent[0] (com.apple."
	    "security.root)\n") != NULL);
	T_CHECK(strstr(text.data, "  PayloadContent[2].EAPClientConfiguration."
	    "PayloadCertificateAnchorUUID[1] -> NOWHERE: DANGLING") != NULL);
	T_CHECK(strstr(text.data, "note:               PayloadContent[2] and "
	    "PayloadContent[3] have the same PayloadUUID WIFI-UUID\n") != NULL);
	/* controls escaped for a terminal */
	T_CHECK(strstr(text.data, "Line1\\nLine2\\x7f\\u0085!\n") != NULL);
	T_CHECK(strstr(text.data, "verdict:            UNSIGNED") != NULL);

	T_CHECK(no_raw_controls(&json));
	T_CHECK(strstr(json.data, "\"verdict\":\"unsigned\"") != NULL);
	T_CHECK(strstr(json.data, "\"display_name\":\"Line1\\nLine2\\u007f"
	    "\\u0085!\"") != NULL);
	T_CHECK(strstr(json.data, "\"challenge\":{\"set\":true,\"characters\""
	    ":22,\"masked\":true}") != NULL);
	T_CHECK(strstr(json.data, "\"subject\":[[[\"O\",\"Ex & Co\"]],"
	    "[[\"CN\",\"Ana\\nLima\"]]]") != NULL);
	T_CHECK(strstr(json.data, "{\"from\":2,\"key\":\"EAPClientConfiguration"
	    ".PayloadCertificateAnchorUUID[1]\",\"uuid\":\"NOWHERE\",\"to\":"
	    "null,\"dangling\":true}") != NULL);
	T_CHECK(strstr(json.data, "{\"from\":2,\"key\":\"PayloadCertificateUUID"
	    "\",\"uuid\":\"SCEP-UUID\",\"to\":1,\"dangling\":false}") != NULL);

	T_CHECK(strstr(text.data, SECRET) == NULL);
	T_CHECK(strstr(json.data, SECRET) == NULL);
	pf_inspection_free(in);
	pf_buf_free(&text);
	pf_buf_free(&json);
}

static void
t_challenge_forms(void)
{
	static const char *const forms[][2] = {
		{ "", "(none)" },
		{ "<key>Challenge</key><string></string>", "(set, empty)" },
		{ "<key>Challenge</key><integer>7</integer>",
		    "(set, not a string, masked)" },
		{ "<key>Challenge</key><string>\xc3\xa9t\xc3\xa9</string>",
		    "(set, 3 characters, masked)" },
	};
	struct pf_inspection *in;
	struct pf_buf text = { 0 }, json = { 0 };
	char xml[1024];
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		in = NULL;
		snprintf(xml, sizeof(xml), "<plist><dict><key>PayloadType</key>"
		    "<string>Configuration</string><key>PayloadContent"
		    "</key><array><dict><key>PayloadType</key><string>com."
		    "apple.security.scep</string><key>PayloadContent</key>"
		    "<dict><key>URL</key><string>u</string>%s</dict></dict>"
		    "</array></dict></plist>", forms[i][0]);
		pf_buf_reset(&text);
		pf_buf_reset(&json);
		T_OK(run(xml, strlen(xml), NULL, time(NULL), &in, &text,
		    &json));
		T_CHECK(strstr(text.data, forms[i][1]) != NULL);
		T_CHECK(strstr(text.data, "\xc3\xa9t\xc3\xa9") == NULL);
		T_CHECK(strstr(json.data, "\xc3\xa9t\xc3\xa9") == NULL);
		T_CHECK(strstr(text.data, "  Keysize:          (not set") !=
		    NULL);
		T_CHECK(strstr(json.data, "\"keysize\":null") != NULL);
		pf_inspection_free(in);
	}
	pf_buf_free(&text);
	pf_buf_free(&json);
}

static void
t_not_profiles(void)
{
	static const struct {
		const char *data;	/* no NUL inside */
		const char *want;
	} cases[] = {
		{ "", "neither a signed profile (DER CMS) nor an XML plist" },
		{ "hello", "not an XML plist" },
		{ "bplist00\xd0\x08", "a binary plist" },
		{ "\x30\x03\x02\x01\x01", "neither a signed profile (DER "
		    "CMS: " },
		{ "<plist><array/></plist>", "the top level is not a "
		    "dictionary" },
		{ "<plist><dict><key>a</key><string>b</string></dict></plist>",
		    "its top-level PayloadType is not \"Configuration\"" },
		{ "<plist><dict><key>PayloadType</key><integer>1</integer>"
		    "</dict></plist>", "PayloadType is not \"Configuration\"" },
		{ "<plist><dict><key>a</key></dict></plist>",
		    "test.mobileconfig: line 1: <key> without a value" },
		{ "<plist><dict><key>a</key><integer>x</integer></dict>"
		    "</plist>", "<integer> holds \"x\"" },
	};
	struct pf_inspection *in;
	struct pf_inspect_opts o;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.label = "test.mobileconfig";
	o.now = time(NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in = NULL;
		T_ERR(pf_inspect(&in, (const uint8_t *)cases[i].data,
		    strlen(cases[i].data), &o), PF_EX_DATAERR, cases[i].want);
		T_CHECK(in == NULL);
	}
}

/* Sign xml with the EC PKI's signer (and chain unless no_chain). */
static uint8_t *
sign_xml(const char *xml, int no_chain, size_t *derlen)
{
	struct pf_signer_opts so;
	struct pf_signer *s = NULL;
	struct pf_sign_ctx *c = NULL;
	struct pf_error *err;
	uint8_t *der = NULL;
	char cert[512], key[512], chain[512];

	snprintf(cert, sizeof(cert), "%s/ec/signer.pem", tmp);
	snprintf(key, sizeof(key), "%s/ec/signer.key", tmp);
	snprintf(chain, sizeof(chain), "%s/ec/chain.pem", tmp);
	memset(&so, 0, sizeof(so));
	so.cert_path = cert;
	so.key_path = key;
	so.chain_path = no_chain ? NULL : chain;
	so.now = time(NULL);
	so.warn_secs = 30 * DAY;
	if ((err = pf_signer_load(&s, &so, NULL)) == NULL &&
	    (err = pf_sign_ctx_new(&c, s)) == NULL)
		err = pf_sign(c, xml, strlen(xml), &der, derlen);
	if (err != NULL) {
		fprintf(stderr, "sign: %s\n", err->msg);
		pf_error_free(err);
	}
	pf_sign_ctx_free(c);
	pf_signer_free(s);
	return der;
}

/* Inspect der at now against ca; 1 if the verdict is want and, when
 * problem is not NULL, the first problem contains it. */
static int
verdict_is(const uint8_t *der, size_t len, const char *ca, time_t now,
    enum pf_verdict_kind want, const char *problem)
{
	struct pf_inspection *in = NULL;
	struct pf_buf text = { 0 }, json = { 0 };
	struct pf_error *err;
	int ok = 0;

	if ((err = run(der, len, ca, now, &in, &text, &json)) != NULL) {
		fprintf(stderr, "inspect: %s\n", err->msg);
		pf_error_free(err);
		goto done;
	}
	ok = pf_inspection_verdict(in) == want && (problem == NULL ||
	    (pf_inspection_nproblems(in) > 0 &&
	    strstr(pf_inspection_problem(in, 0), problem) != NULL)) &&
	    strstr(text.data, SECRET) == NULL &&
	    strstr(json.data, SECRET) == NULL && no_raw_controls(&json);
	if (!ok)
		fprintf(stderr, "verdict %d, want %d; report:\n%s",
		    (int)pf_inspection_verdict(in), (int)want, text.data);
done:
	pf_inspection_free(in);
	pf_buf_free(&text);
	pf_buf_free(&json);
	return ok;
}

static void
t_signed(void)
{
	uint8_t *der = NULL, *nochain = NULL;
	size_t len = 0, nclen = 0;
	char *p;
	time_t now = time(NULL);

	T_REQUIRE((der = sign_xml(wired, 0, &len)) != NULL);
	T_CHECK(verdict_is(der, len, "ec/root.pem", now, PF_VERDICT_VERIFIED,
	    NULL));
	T_CHECK(verdict_is(der, len, NULL, now, PF_VERDICT_SIGNATURE, NULL));
	/* the other PKI's root did not issue this chain */
	T_CHECK(verdict_is(der, len, "rsa/root.pem", now, PF_VERDICT_FAILED,
	    "the chain does not verify: CN=profactory demo intermediate CA,"
	    "O=profactory demo: its issuer CN=profactory demo root CA,"
	    "O=profactory demo is neither in the profile nor a root in "
	    "rsa/root.pem"));
	/* the signer (825 days) expires before the root and intermediate */
	T_CHECK(verdict_is(der, len, "ec/root.pem", now + 900 * DAY,
	    PF_VERDICT_FAILED, "the signer certificate expired on "));
	T_CHECK(verdict_is(der, len, NULL, now + 900 * DAY,
	    PF_VERDICT_FAILED, "the signer certificate expired on "));
	T_CHECK(verdict_is(der, len, NULL, 1000000000, PF_VERDICT_FAILED,
	    "the signer certificate is not valid before "));

	/* one byte of the content */
	p = memmem(der, len, "x.wifi", 6);
	T_REQUIRE(p != NULL);
	p[0] = 'y';
	T_CHECK(verdict_is(der, len, "ec/root.pem", now, PF_VERDICT_FAILED,
	    "the content digest does not match the signed one"));
	p[0] = 'x';
	/* the signature's last byte */
	der[len - 1] ^= 1;
	T_CHECK(verdict_is(der, len, NULL, now, PF_VERDICT_FAILED,
	    "the signature does not verify with the signer's key"));
	der[len - 1] ^= 1;
	T_CHECK(verdict_is(der, len, "ec/root.pem", now, PF_VERDICT_VERIFIED,
	    NULL));

	T_REQUIRE((nochain = sign_xml(wired, 1, &nclen)) != NULL);
	T_CHECK(verdict_is(nochain, nclen, "ec/root.pem", now,
	    PF_VERDICT_FAILED, "(the profile carries only the signer "
	    "certificate: was it signed without --chain?)"));
	T_CHECK(verdict_is(nochain, nclen, "ec/inter-root.pem", now,
	    PF_VERDICT_FAILED, "ec/inter-root.pem holds it, but not as a "
	    "root"));
	T_CHECK(verdict_is(der, len, "ec/inter-root.pem", now,
	    PF_VERDICT_VERIFIED, NULL));
	free(der);
	free(nochain);
}

static void
t_ca_files(void)
{
	struct pf_inspection *in = NULL;
	struct pf_buf text = { 0 }, json = { 0 };

	T_ERR(run(wired, sizeof(wired) - 1, "ec/chain.pem", time(NULL), &in,
	    &text, &json), PF_EX_CONFIG, "ec/chain.pem: its certificate is "
	    "not a root (self-signed)");
	T_CHECK(in == NULL);
	T_ERR(run(wired, sizeof(wired) - 1, "ec/signer.key", time(NULL), &in,
	    &text, &json), PF_EX_CONFIG, "ec/signer.key: no PEM certificate "
	    "found");
	T_CHECK(in == NULL);
	T_ERR(run(wired, sizeof(wired) - 1, "damaged.pem", time(NULL), &in,
	    &text, &json), PF_EX_CONFIG, "damaged.pem: certificate 2");
	T_CHECK(in == NULL);
	/* a good file and an unsigned profile: unsigned, not an error */
	T_OK(run(wired, sizeof(wired) - 1, "ec/root.pem", time(NULL), &in,
	    &text, &json));
	T_CHECK(pf_inspection_verdict(in) == PF_VERDICT_UNSIGNED);
	pf_inspection_free(in);
	pf_buf_free(&text);
	pf_buf_free(&json);
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
	snprintf(tmp, sizeof(tmp), "%s/pf-test-inspect.XXXXXX", tmpdir);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (t_sh("sh '%s/scripts/mkpki' '%s/rsa' rsa && "
	    "sh '%s/scripts/mkpki' '%s/ec' ec && cd '%s' && "
	    "cat ec/inter.pem ec/root.pem > ec/inter-root.pem && "
	    "{ cat ec/root.pem; sed 3d ec/inter.pem; } > damaged.pem",
	    top, tmp, top, tmp, tmp) != 0) {
		printf("not ok - mkpki (kept %s)\n", tmp);
		return 1;
	}

	T_RUN(t_unsigned_facts);
	T_RUN(t_challenge_forms);
	T_RUN(t_not_profiles);
	T_RUN(t_signed);
	T_RUN(t_ca_files);

	if (t_nfail == 0)
		t_rm_rf(tmp);
	else
		fprintf(stderr, "test_inspect: kept %s\n", tmp);
	T_DONE();
}
