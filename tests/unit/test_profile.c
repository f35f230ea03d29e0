/*
 * Unit tests for profile: filling with awkward values (checked with
 * libplist and with Python's plistlib as an independent parser), UUID
 * wiring, {{int:}} and {{bool:}}, bindings, errors, and the time per
 * profile.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <plist/plist.h>

#include "error.h"
#include "profile.h"
#include "template.h"
#include "util.h"
#include "t.h"

#define XHEAD	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"		\
	"<plist version=\"1.0\">\n"
#define XTAIL	"</plist>\n"
#define KS(k, v)	"<key>" k "</key><string>" v "</string>"
#define KI(k, v)	"<key>" k "</key><integer>" v "</integer>"
#define TOP(extra)							\
	KS("PayloadType", "Configuration") KI("PayloadVersion", "1")	\
	KS("PayloadIdentifier", "com.example.t.{{user}}")		\
	KS("PayloadUUID", "{{uuid:top}}") extra
#define PROFILE_X(top, payloads)					\
	XHEAD "<dict>" top "<key>PayloadContent</key><array>" payloads	\
	"</array></dict>" XTAIL
#define PAYKEYS(type, id, uuid)						\
	KS("PayloadType", type) KI("PayloadVersion", "1")		\
	KS("PayloadIdentifier", id) KS("PayloadUUID", uuid)
#define SCEPU(uuid, content)						\
	"<dict>" PAYKEYS("com.apple.security.scep", "com.example.scep",	\
	uuid) "<key>PayloadContent</key><dict>"				\
	KS("URL", "https://scep.example.com/scep")			\
	KS("Challenge", "{{challenge}}") content "</dict></dict>"
#define SCEP(content)	SCEPU("{{uuid:scep}}", content)
#define PAIR(a, b)	"<array><string>" a "</string><string>" b "</string></array>"

static const char *const names[] = { "email", "name", "department",
    "template" };

struct vars {
	const char *values[4];
	struct pf_profile_vars v;
};

static void
vars_init(struct vars *vs, const char *email, const char *name)
{
	memset(vs, 0, sizeof(*vs));
	vs->values[0] = email;
	vs->values[1] = name;
	vs->values[2] = "Engineering";
	vs->values[3] = "scep";
	vs->v.names = names;
	vs->v.values = vs->values;
	vs->v.ncols = 4;
	vs->v.user = email;
	vs->v.template_name = "scep";
	vs->v.run = "20261121T222415Z-1";
	vs->v.challenge = "Zk3vQ9-ab_cdEFghIJklMN";
}

static struct pf_error *
load(struct pf_template **t, const char *xml, int force)
{
	return pf_template_load(t, "t.plist", xml, strlen(xml), force, NULL);
}

static struct pf_error *
load_file(struct pf_template **t, const char *rel)
{
	struct pf_error *err;
	size_t len = 0;
	char *xml = t_slurp(rel, &len);

	if (xml == NULL)
		return pf_error_fmt(PF_EX_NOINPUT, "%s: cannot read", rel);
	err = pf_template_load(t, rel, xml, len, 0, NULL);
	free(xml);
	return err;
}

/*
 * The node at a path of keys and indices ("PayloadContent", "0", ...) in
 * a parsed plist; a component of digits indexes an array.
 */
static plist_t
at(plist_t root, const char *const *path)
{
	plist_t n = root;

	for (; n != NULL && *path != NULL; path++) {
		if (plist_get_node_type(n) == PLIST_ARRAY)
			n = plist_array_get_item(n, (uint32_t)atoi(*path));
		else
			n = plist_dict_get_item(n, *path);
	}
	return n;
}

static const char *
str_at(plist_t root, const char *const *path)
{
	plist_t n = at(root, path);

	if (n == NULL || plist_get_node_type(n) != PLIST_STRING)
		return NULL;
	return plist_get_string_ptr(n, NULL);
}

static plist_t
reparse(const struct pf_profile *p)
{
	plist_t root = NULL;

	plist_from_xml(p->xml, (uint32_t)p->len, &root);
	return root;
}

static void
hex(const char *s, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (; *s != '\0'; s++) {
		*out++ = digits[(unsigned char)*s >> 4];
		*out++ = digits[(unsigned char)*s & 0xf];
	}
	*out = '\0';
}

static const char pyscript[] =
    "import plistlib, sys\n"
    "v = plistlib.load(open(sys.argv[1], 'rb'))\n"
    "for k in sys.argv[2:]:\n"
    "    v = v[int(k)] if isinstance(v, list) else v[k]\n"
    "if isinstance(v, str):\n"
    "    sys.stdout.write('s:' + v.encode('utf-8').hex())\n"
    "else:\n"
    "    sys.stdout.write(repr(v))\n";

/*
 * What Python's plistlib reads at path in the profile: "s:" + hex of the
 * UTF-8 of a string, or repr() of anything else.  Writes into out;
 * returns 0 if python3 could not run or failed.
 */
static int
python_value(const struct pf_profile *p, const char *const *path, char *out,
    size_t outlen)
{
	char dir[] = "/tmp/pf_test_profile.XXXXXX";
	char xmlpath[64], pypath[64], cmd[1024];
	FILE *f, *pipe;
	size_t n, len;
	int ok = 0;

	if (mkdtemp(dir) == NULL)
		return 0;
	snprintf(xmlpath, sizeof(xmlpath), "%s/p.plist", dir);
	snprintf(pypath, sizeof(pypath), "%s/get.py", dir);
	if ((f = fopen(xmlpath, "wb")) == NULL)
		goto done;
	fwrite(p->xml, 1, p->len, f);
	fclose(f);
	if ((f = fopen(pypath, "w")) == NULL)
		goto done;
	fputs(pyscript, f);
	fclose(f);
	len = (size_t)snprintf(cmd, sizeof(cmd), "python3 %s %s", pypath,
	    xmlpath);
	for (; *path != NULL; path++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " '%s'",
		    *path);
	if ((pipe = popen(cmd, "r")) == NULL)
		goto done;
	n = fread(out, 1, outlen - 1, pipe);
	out[n] = '\0';
	ok = pclose(pipe) == 0;
done:
	unlink(xmlpath);
	unlink(pypath);
	rmdir(dir);
	return ok;
}

static const char scep_xml[] = PROFILE_X(
    TOP(KS("PayloadDescription", "Hi {{name}}!")),
    SCEP("<key>Subject</key><array><array>" PAIR("O", "Example Inc.")
    "</array><array>" PAIR("CN", "{{name}}") "</array></array>"
    "<key>SubjectAltName</key><dict>" KS("rfc822Name", "{{email}}")
    "</dict>"));

static const char *const awkward[] = {
	"a<b&c\"d'e>f",
	"]]> <![CDATA[ x --> <!-- &amp; &#65; &bogus;",
	"Ñoño Müller-Lüdenscheidt, Łódź",
	"漢字テスト 한국어",
	"line1\nline2\n",
	"tab\there",
	"cr\r\nlf\rcr",
	"emoji 😀 \xe2\x80\xae rtl",
	"{{name}} {{challenge}} {{",
	"  spaces  ",
	"",
};
#define NAWKWARD	(sizeof(awkward) / sizeof(awkward[0]))

static void
test_awkward_values(void)
{
	const char *const *values = awkward;
	static const char *const cn[] = { "PayloadContent", "0",
	    "PayloadContent", "Subject", "1", "0", "1", NULL };
	static const char *const desc[] = { "PayloadDescription", NULL };
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	plist_t root;
	char want[1024], got[1024], expect[512];
	size_t i;

	T_OK(load(&t, scep_xml, 0));
	for (i = 0; i < NAWKWARD; i++) {
		vars_init(&vs, "ana@example.com", values[i]);
		T_OK(pf_profile_build(t, &vs.v, &p));
		root = reparse(&p);
		T_CHECK(root != NULL);
		T_CHECK(str_at(root, cn) != NULL &&
		    strcmp(str_at(root, cn), values[i]) == 0);
		snprintf(expect, sizeof(expect), "Hi %s!", values[i]);
		T_CHECK(str_at(root, desc) != NULL &&
		    strcmp(str_at(root, desc), expect) == 0);
		plist_free(root);

		/* the independent parser reads the same text */
		want[0] = 's';
		want[1] = ':';
		hex(values[i], want + 2);
		T_CHECK(python_value(&p, cn, got, sizeof(got)));
		if (strcmp(got, want) != 0) {
			fprintf(stderr, "value %zu: python read %s, want %s\n",
			    i, got, want);
			t_fail = 1;
		}
		T_CHECK(p.nbindings == 2);
		T_CHECK(strcmp(p.bindings[0].value, values[i]) == 0);
		pf_profile_clear(&p);
	}
	pf_template_free(t);
}

static int
is_uuid_n(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	}
	return s[14] == '4' && strchr("89AB", s[19]) != NULL;
}

/* s is one UUID as the fill writes them. */
static int
is_uuid(const char *s)
{
	return s != NULL && strlen(s) == 36 && is_uuid_n(s);
}

static void
test_uuid_wiring(void)
{
	static const char *const top[] = { "PayloadUUID", NULL };
	static const char *const root_uuid[] = { "PayloadContent", "0",
	    "PayloadUUID", NULL };
	static const char *const scep_uuid[] = { "PayloadContent", "1",
	    "PayloadUUID", NULL };
	static const char *const wifi_uuid[] = { "PayloadContent", "2",
	    "PayloadUUID", NULL };
	static const char *const wifi_cert[] = { "PayloadContent", "2",
	    "PayloadCertificateUUID", NULL };
	static const char *const wifi_anchor[] = { "PayloadContent", "2",
	    "EAPClientConfiguration", "PayloadCertificateAnchorUUID", "0",
	    NULL };
	struct pf_template *t = NULL;
	struct pf_profile p1, p2;
	struct vars vs;
	plist_t r1, r2;
	char py1[256], py2[256];

	T_OK(load_file(&t, "templates/wifi-eaptls.plist"));
	vars_init(&vs, "ana@example.com", "Ana");
	T_OK(pf_profile_build(t, &vs.v, &p1));
	T_OK(pf_profile_build(t, &vs.v, &p2));
	r1 = reparse(&p1);
	r2 = reparse(&p2);
	T_REQUIRE(r1 != NULL && r2 != NULL);

	T_CHECK(is_uuid(str_at(r1, top)));
	T_CHECK(is_uuid(str_at(r1, root_uuid)));
	T_CHECK(is_uuid(str_at(r1, scep_uuid)));
	T_CHECK(is_uuid(str_at(r1, wifi_uuid)));
	/* wired */
	T_CHECK(strcmp(str_at(r1, wifi_cert), str_at(r1, scep_uuid)) == 0);
	T_CHECK(strcmp(str_at(r1, wifi_anchor), str_at(r1, root_uuid)) == 0);
	T_CHECK(strcmp(str_at(r2, wifi_cert), str_at(r2, scep_uuid)) == 0);
	/* distinct labels, distinct UUIDs */
	T_CHECK(strcmp(str_at(r1, top), str_at(r1, scep_uuid)) != 0);
	T_CHECK(strcmp(str_at(r1, root_uuid), str_at(r1, scep_uuid)) != 0);
	T_CHECK(strcmp(str_at(r1, wifi_uuid), str_at(r1, scep_uuid)) != 0);
	/* fresh per profile */
	T_CHECK(strcmp(str_at(r1, top), str_at(r2, top)) != 0);
	T_CHECK(strcmp(str_at(r1, scep_uuid), str_at(r2, scep_uuid)) != 0);
	/* the outputs */
	T_CHECK(strcmp(p1.uuid, str_at(r1, top)) == 0);
	T_CHECK(strcmp(p1.identifier, "com.example.wifi.ana@example.com") == 0);
	T_CHECK(strcmp(p2.identifier, p1.identifier) == 0);
	/* python agrees on the wiring */
	T_CHECK(python_value(&p1, wifi_cert, py1, sizeof(py1)));
	T_CHECK(python_value(&p1, scep_uuid, py2, sizeof(py2)));
	T_CHECK(strcmp(py1, py2) == 0);

	plist_free(r1);
	plist_free(r2);
	pf_profile_clear(&p1);
	pf_profile_clear(&p2);
	pf_template_free(t);
}

/* Literal PayloadUUIDs are replaced per profile; equal strings follow. */
static void
test_literal_uuids(void)
{
#define LIT_SCEP	"1B4C3E2A-0000-4000-8000-0000000000AA"
#define LIT_TOP		"bc0328a9-c199-4572-9e5e-ed59a73454fa"
	static const char xml[] = PROFILE_X(
	    KS("PayloadType", "Configuration") KI("PayloadVersion", "1")
	    KS("PayloadIdentifier", "com.example.lit")
	    KS("PayloadUUID", LIT_TOP),
	    SCEPU(LIT_SCEP, "")
	    "<dict>" PAYKEYS("com.apple.wifi.managed", "w", "{{uuid:w}}")
	    KS("SSID_STR", "x") KS("PayloadCertificateUUID", LIT_SCEP)
	    "<key>EAPClientConfiguration</key><dict><key>AcceptEAPTypes</key>"
	    "<array><integer>13</integer></array></dict></dict>");
	static const char *const scep_uuid[] = { "PayloadContent", "0",
	    "PayloadUUID", NULL };
	static const char *const wifi_cert[] = { "PayloadContent", "1",
	    "PayloadCertificateUUID", NULL };
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	plist_t r;

	T_OK(load(&t, xml, 0));
	vars_init(&vs, "ana@example.com", "Ana");
	T_OK(pf_profile_build(t, &vs.v, &p));
	T_CHECK(strstr(p.xml, LIT_SCEP) == NULL);
	T_CHECK(strstr(p.xml, LIT_TOP) == NULL);
	T_CHECK(is_uuid(p.uuid));
	r = reparse(&p);
	T_REQUIRE(r != NULL);
	T_CHECK(is_uuid(str_at(r, scep_uuid)));
	T_CHECK(strcmp(str_at(r, scep_uuid), str_at(r, wifi_cert)) == 0);
	plist_free(r);
	pf_profile_clear(&p);
	pf_template_free(t);
}

/*
 * A literal PayloadUUID is replaced only where a key names a payload by
 * its UUID; a {{uuid:LABEL}} spelled like a literal is another UUID; a
 * PayloadIdentifier equal to a PayloadUUID stays as written.
 */
static void
test_literal_uuid_scope(void)
{
	static const char xml[] = PROFILE_X(
	    KS("PayloadType", "Configuration") KI("PayloadVersion", "1")
	    KS("PayloadIdentifier", "6F1C1D34-0000-4000-8000-00000000AAAA")
	    KS("PayloadUUID", "6F1C1D34-0000-4000-8000-00000000AAAA")
	    KS("PayloadDescription", "{{uuid:scep-id}}"),
	    "<dict>" PAYKEYS("com.apple.security.scep", "scep-id", "scep-id")
	    "<key>PayloadContent</key><dict>"
	    KS("URL", "https://scep.example.com/scep")
	    KS("Challenge", "{{challenge}}") "</dict></dict>");
	static const char *const top_id[] = { "PayloadIdentifier", NULL };
	static const char *const top_uuid[] = { "PayloadUUID", NULL };
	static const char *const desc[] = { "PayloadDescription", NULL };
	static const char *const s_id[] = { "PayloadContent", "0",
	    "PayloadIdentifier", NULL };
	static const char *const s_uuid[] = { "PayloadContent", "0",
	    "PayloadUUID", NULL };
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	plist_t r;

	T_OK(load(&t, xml, 0));
	vars_init(&vs, "ana@example.com", "Ana");
	T_OK(pf_profile_build(t, &vs.v, &p));
	r = reparse(&p);
	T_REQUIRE(r != NULL);
	T_CHECK(strcmp(str_at(r, top_id),
	    "6F1C1D34-0000-4000-8000-00000000AAAA") == 0);
	T_CHECK(is_uuid(str_at(r, top_uuid)) && strcmp(str_at(r, top_uuid),
	    "6F1C1D34-0000-4000-8000-00000000AAAA") != 0);
	T_CHECK(strcmp(str_at(r, s_id), "scep-id") == 0);
	T_CHECK(is_uuid(str_at(r, s_uuid)) && is_uuid(str_at(r, desc)));
	T_CHECK(strcmp(str_at(r, s_uuid), str_at(r, desc)) != 0);
	plist_free(r);
	pf_profile_clear(&p);
	pf_template_free(t);
}

/* Line ends in the template as XML reads them: CR LF and CR are LF; a CR
 * written "&#13;" stays one. */
static void
test_template_line_ends(void)
{
	static const char xml[] = PROFILE_X(TOP(
	    KS("PayloadDescription", "one\r\ntwo\rthree&#13;four")),
	    SCEP(""));
	static const char *const desc[] = { "PayloadDescription", NULL };
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	plist_t r;

	T_OK(load(&t, xml, 0));
	vars_init(&vs, "ana@example.com", "Ana");
	T_OK(pf_profile_build(t, &vs.v, &p));
	r = reparse(&p);
	T_REQUIRE(r != NULL);
	T_CHECK(strcmp(str_at(r, desc), "one\ntwo\nthree\rfour") == 0);
	plist_free(r);
	pf_profile_clear(&p);
	pf_template_free(t);
}

/* A profile the data would make larger than PF_PROFILE_XML_MAX fails its
 * row (a data error), before it is all built. */
static void
test_profile_too_large(void)
{
	static const char xml[] = PROFILE_X(TOP(
	    "<key>PayloadDescription</key><string>"
	    "{{name}}{{name}}{{name}}{{name}}{{name}}{{name}}{{name}}{{name}}"
	    "</string>"), SCEP(""));
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	char *big;

	T_OK(load(&t, xml, 0));
	T_REQUIRE((big = malloc(PF_PROFILE_XML_MAX / 8 + 2)) != NULL);
	memset(big, 'x', PF_PROFILE_XML_MAX / 8 + 1);
	big[PF_PROFILE_XML_MAX / 8 + 1] = '\0';
	vars_init(&vs, "ana@example.com", big);
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "the filled profile would be larger than");
	T_CHECK(p.xml == NULL);
	big[PF_PROFILE_XML_MAX / 16] = '\0';	/* half of it fits */
	T_OK(pf_profile_build(t, &vs.v, &p));
	pf_profile_clear(&p);
	free(big);
	pf_template_free(t);
}

/* Apple's example profile, forced in: it still gets fresh UUIDs. */
static void
test_seed_build(void)
{
	static const char xml[] = PROFILE_X(
	    KS("PayloadType", "Configuration") KI("PayloadVersion", "1")
	    KS("PayloadIdentifier", "com.example.myprofile")
	    KS("PayloadUUID", "bc0328a9-c199-4572-9e5e-ed59a73454fa"),
	    "<dict>" PAYKEYS("com.apple.security.scep",
	    "com.example.myscepcertpayload",
	    "c0264fd7-1d89-4385-8806-759fbe78a622")
	    "<key>PayloadContent</key><dict>" KS("Challenge", "Example")
	    KI("Keysize", "0") KS("URL", "https://hostname.example.com/")
	    "</dict></dict>");
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;

	T_OK(load(&t, xml, 1));
	vars_init(&vs, "ana@example.com", "Ana");
	T_OK(pf_profile_build(t, &vs.v, &p));
	T_CHECK(strstr(p.xml, "c0264fd7") == NULL);
	T_CHECK(strstr(p.xml, "<string>Example</string>") != NULL);
	T_CHECK(strstr(p.xml, vs.v.challenge) == NULL);
	T_CHECK(strcmp(p.identifier, "com.example.myprofile") == 0);
	T_CHECK(p.nbindings == 0 && p.bindings == NULL);
	pf_profile_clear(&p);
	pf_template_free(t);
}

static const char typed_xml[] = PROFILE_X(TOP(""),
    SCEP(KS("Keysize", "{{int:ks}}") KS("Retries", "{{int:retries}}")
    KS("KeyIsExtractable", "{{bool:x}}")));

static void
typed_vars(struct pf_profile_vars *v, const char **vals, const char *ks,
    const char *retries, const char *x)
{
	static const char *const tnames[] = { "ks", "retries", "x" };

	vals[0] = ks;
	vals[1] = retries;
	vals[2] = x;
	memset(v, 0, sizeof(*v));
	v->names = tnames;
	v->values = vals;
	v->ncols = 3;
	v->user = "u";
	v->template_name = "t";
	v->run = "r";
	v->challenge = "c";
}

static void
test_int_bool(void)
{
	static const struct {
		const char *ks, *retries, *x;
		const char *want_retries, *want_x;	/* python repr */
	} ok[] = {
		{ "2048", "3", "true", "3", "True" },
		{ "4096", "-5", "FALSE", "-5", "False" },
		{ "1024", "+7", "Yes", "7", "True" },
		{ "2048", "0", "no", "0", "False" },
		{ "2048", "9223372036854775807", "1", "9223372036854775807",
		  "True" },
		{ "2048", "-9223372036854775808", "0", "-9223372036854775808",
		  "False" },
	};
	static const struct {
		const char *ks, *retries, *x;
		const char *want;
	} bad[] = {
		{ "2048", "abc", "true",
		  "column \"retries\": \"abc\" is not an integer" },
		{ "2048", "", "true", "column \"retries\": \"\" is not an "
		  "integer" },
		{ "2048", "1.5", "true", "\"1.5\" is not an integer" },
		{ "2048", " 3", "true", "\" 3\" is not an integer" },
		{ "2048", "-", "true", "\"-\" is not an integer" },
		{ "2048", "9223372036854775808", "true",
		  "\"9223372036854775808\" is not an integer" },
		{ "2048", "3", "maybe", "column \"x\": \"maybe\" is not a "
		  "boolean" },
		{ "2048", "3", "", "column \"x\": \"\" is not a boolean" },
		{ "1000", "3", "true", "column \"ks\": 1000 is not an allowed "
		  "value for PayloadContent[0].PayloadContent.Keysize" },
		{ "0", "3", "true", "column \"ks\": 0 is not an allowed value" },
	};
	static const char *const retries[] = { "PayloadContent", "0",
	    "PayloadContent", "Retries", NULL };
	static const char *const x[] = { "PayloadContent", "0",
	    "PayloadContent", "KeyIsExtractable", NULL };
	static const char *const ks[] = { "PayloadContent", "0",
	    "PayloadContent", "Keysize", NULL };
	struct pf_template *t = NULL;
	struct pf_profile_vars v;
	struct pf_profile p;
	const char *vals[3];
	char got[256];
	plist_t r;
	uint64_t u = 0;
	size_t i;

	T_OK(load(&t, typed_xml, 0));
	T_CHECK(pf_template_ncolumns(t) == 3);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		typed_vars(&v, vals, ok[i].ks, ok[i].retries, ok[i].x);
		T_OK(pf_profile_build(t, &v, &p));
		r = reparse(&p);
		T_REQUIRE(r != NULL);
		T_CHECK(plist_get_node_type(at(r, ks)) == PLIST_UINT);
		plist_get_uint_val(at(r, ks), &u);
		T_CHECK(u == (uint64_t)atoll(ok[i].ks));
		T_CHECK(plist_get_node_type(at(r, x)) == PLIST_BOOLEAN);
		plist_free(r);
		T_CHECK(python_value(&p, retries, got, sizeof(got)));
		T_CHECK(strcmp(got, ok[i].want_retries) == 0);
		T_CHECK(python_value(&p, x, got, sizeof(got)));
		T_CHECK(strcmp(got, ok[i].want_x) == 0);
		pf_profile_clear(&p);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		typed_vars(&v, vals, bad[i].ks, bad[i].retries, bad[i].x);
		T_ERR(pf_profile_build(t, &v, &p), PF_EX_DATAERR, bad[i].want);
		T_CHECK(p.xml == NULL && p.bindings == NULL);
	}
	pf_template_free(t);
}

/* A value from a placeholder must still be one Apple allows. */
static void
test_enum_placeholder(void)
{
	static const char xml[] = PROFILE_X(TOP(""),
	    "<dict>" PAYKEYS("com.apple.wifi.managed", "w", "{{uuid:w}}")
	    KS("SSID_STR", "{{ssid}}") KS("EncryptionType", "{{enc}}")
	    "</dict>");
	static const char *const wnames[] = { "ssid", "enc" };
	const char *vals[2] = { "Corp", "WPA2" };
	struct pf_profile_vars v;
	struct pf_template *t = NULL;
	struct pf_profile p;

	memset(&v, 0, sizeof(v));
	v.names = wnames;
	v.values = vals;
	v.ncols = 2;
	v.user = "u";
	T_OK(load(&t, xml, 0));
	T_OK(pf_profile_build(t, &v, &p));
	T_CHECK(strstr(p.xml, "<string>WPA2</string>") != NULL);
	pf_profile_clear(&p);
	vals[1] = "WPA9";
	T_ERR(pf_profile_build(t, &v, &p), PF_EX_DATAERR,
	    "PayloadContent[0].EncryptionType: \"WPA9\" is not an allowed "
	    "value");
	pf_template_free(t);
}

/*
 * A value quoted in an error is cut short on a character boundary: the
 * message goes into the manifest, which must stay UTF-8 (a cut in the
 * middle of "\xc3\xa9" made it invalid).
 */
static void
test_message_utf8(void)
{
	static const char xml[] = PROFILE_X(TOP(""),
	    "<dict>" PAYKEYS("com.apple.wifi.managed", "w", "{{uuid:w}}")
	    KS("SSID_STR", "Corp") KS("EncryptionType", "{{enc}}")
	    "</dict>");
	static const char *const wnames[] = { "enc" };
	char e80[81], a80[82];
	const char *evals[1] = { a80 }, *vals[3];
	struct pf_template *t = NULL, *tt = NULL;
	struct pf_profile_vars v;
	struct pf_profile p;
	struct pf_error *err;
	size_t i;

	for (i = 0; i < 40; i++)
		memcpy(e80 + 2 * i, "\xc3\xa9", 2);
	e80[80] = '\0';
	a80[0] = 'a';			/* so byte 40 and byte 60 cut a character */
	memcpy(a80 + 1, e80, 81);

	T_OK(load(&t, xml, 0));
	memset(&v, 0, sizeof(v));
	v.names = wnames;
	v.values = evals;
	v.ncols = 1;
	v.user = "u";
	err = pf_profile_build(t, &v, &p);
	T_REQUIRE(err != NULL);
	T_CHECK(pf_utf8_valid(err->msg, strlen(err->msg)));
	T_CHECK(strstr(err->msg, "EncryptionType: \"a\xc3\xa9") != NULL);
	pf_error_free(err);
	pf_template_free(t);

	T_OK(load(&tt, typed_xml, 0));
	typed_vars(&v, vals, "2048", a80, "true");
	err = pf_profile_build(tt, &v, &p);
	T_REQUIRE(err != NULL);
	T_CHECK(pf_utf8_valid(err->msg, strlen(err->msg)));
	T_CHECK(strstr(err->msg, "is not an integer") != NULL);
	pf_error_free(err);
	typed_vars(&v, vals, "2048", "3", a80);
	err = pf_profile_build(tt, &v, &p);
	T_REQUIRE(err != NULL);
	T_CHECK(pf_utf8_valid(err->msg, strlen(err->msg)));
	T_CHECK(strstr(err->msg, "is not a boolean") != NULL);
	pf_error_free(err);
	/* short values are quoted whole */
	typed_vars(&v, vals, "2048", "\xc3\xa9", "true");
	T_ERR(pf_profile_build(tt, &v, &p), PF_EX_DATAERR,
	    "\"\xc3\xa9\" is not an integer");
	pf_template_free(tt);
}

static void
test_bindings(void)
{
	static const char xml[] = PROFILE_X(TOP(""),
	    SCEP("<key>Subject</key><array>"
	    "<array>" PAIR("O", "Example Inc.") "</array>"
	    "<array>" PAIR("OU", "{{department}} team") "</array>"
	    "<array>" PAIR("CN", "{{user}}") PAIR("2.5.4.42", "{{name}}")
	    "</array></array>"
	    "<key>SubjectAltName</key><dict>"
	    "<key>dNSName</key><array><string>{{user}}.example.com</string>"
	    "<string>fixed.example.com</string></array>"
	    KS("ntPrincipalName", "{{template}}@EXAMPLE")
	    KS("rfc822Name", "{{email}}") "</dict>"));
	static const struct {
		const char *kind, *name, *value;
	} want[] = {
		/* where user data goes into SubjectAltName, every entry is
		 * bound (literals first); O holds no user data */
		{ "san", "dNSName", "fixed.example.com" },
		{ "subject", "OU", "Engineering team" },
		{ "subject", "CN", "ana@example.com" },
		{ "subject", "2.5.4.42", "Ana Example" },
		{ "san", "dNSName", "ana@example.com.example.com" },
		{ "san", "ntPrincipalName", "scep@EXAMPLE" },
		{ "san", "rfc822Name", "ana@example.com" },
	};
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	size_t i;

	T_OK(load(&t, xml, 0));
	vars_init(&vs, "ana@example.com", "Ana Example");
	T_OK(pf_profile_build(t, &vs.v, &p));
	T_CHECK(p.nbindings == sizeof(want) / sizeof(want[0]));
	for (i = 0; i < p.nbindings && i < sizeof(want) / sizeof(want[0]);
	    i++) {
		T_CHECK(strcmp(p.bindings[i].kind, want[i].kind) == 0);
		T_CHECK(strcmp(p.bindings[i].name, want[i].name) == 0);
		T_CHECK(strcmp(p.bindings[i].value, want[i].value) == 0);
	}
	pf_profile_clear(&p);
	pf_template_free(t);
}

/* A literal Subject value of a type that also takes user data is bound
 * too: the request must carry both O values, and no third. */
static void
test_literal_bindings(void)
{
	static const char xml[] = PROFILE_X(TOP(""),
	    SCEP("<key>Subject</key><array>"
	    "<array>" PAIR("O", "Example Inc.") "</array>"
	    "<array>" PAIR("2.5.4.10", "{{department}}") "</array>"
	    "<array>" PAIR("C", "FR") "</array></array>"));
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;

	T_OK(load(&t, xml, 0));
	vars_init(&vs, "ana@example.com", "Ana Example");
	T_OK(pf_profile_build(t, &vs.v, &p));
	T_REQUIRE(p.nbindings == 2);
	T_CHECK(strcmp(p.bindings[0].kind, "subject") == 0 &&
	    strcmp(p.bindings[0].name, "O") == 0 &&
	    strcmp(p.bindings[0].value, "Example Inc.") == 0);
	T_CHECK(strcmp(p.bindings[1].name, "2.5.4.10") == 0 &&
	    strcmp(p.bindings[1].value, "Engineering") == 0);
	pf_profile_clear(&p);
	pf_template_free(t);
}

#define SCEP_ID(id, uuid)						\
	"<dict>" PAYKEYS("com.apple.security.scep", id, uuid)		\
	"<key>PayloadContent</key><dict>"				\
	KS("URL", "https://scep.example.com/scep") "</dict></dict>"

/* PayloadIdentifiers that placeholders make equal fail the row. */
static void
test_filled_ids(void)
{
	static const char xml[] = PROFILE_X(TOP(""),
	    SCEP_ID("com.example.{{department}}", "{{uuid:a}}")
	    SCEP_ID("com.example.x", "{{uuid:b}}")
	    SCEP_ID("com.example.{{name}}", "{{uuid:c}}"));
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;

	T_OK(load(&t, xml, 0));
	vars_init(&vs, "ana@example.com", "Ana Example");
	T_OK(pf_profile_build(t, &vs.v, &p));
	pf_profile_clear(&p);
	vars_init(&vs, "ana@example.com", "Engineering");
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "PayloadContent[2].PayloadIdentifier: \"com.example.Engineering\" "
	    "is also the PayloadIdentifier of PayloadContent[0]");
	vars_init(&vs, "ana@example.com", "x");
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "PayloadContent[2].PayloadIdentifier: \"com.example.x\" is also "
	    "the PayloadIdentifier of PayloadContent[1]");
	pf_template_free(t);
}

static void
test_errors(void)
{
	static const char *const few[] = { "email" };
	const char *vals[1] = { "ana@example.com" };
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;

	T_OK(load(&t, scep_xml, 0));

	/* a column the template needs is not in the CSV */
	vars_init(&vs, "ana@example.com", "Ana");
	vs.v.names = few;
	vs.v.values = vals;
	vs.v.ncols = 1;
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "column \"name\" not in the CSV");
	T_CHECK(p.xml == NULL && p.identifier == NULL && p.nbindings == 0);

	/* values XML cannot carry */
	vars_init(&vs, "ana@example.com", "bell\a");
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "column \"name\": control character");
	vars_init(&vs, "ana@example.com", "bad \xc3\x28 utf8");
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "column \"name\": invalid UTF-8");
	vars_init(&vs, "ana@example.com", "non\xef\xbf\xbf" "char");
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "column \"name\": U+FFFE or U+FFFF");
	vars_init(&vs, "ana@example.com", "Ana");
	vs.v.user = "esc\x1b";
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_DATAERR,
	    "user: control character");

	/* no challenge for a template that needs one */
	vars_init(&vs, "ana@example.com", "Ana");
	vs.v.challenge = NULL;
	T_ERR(pf_profile_build(t, &vs.v, &p), PF_EX_SOFTWARE,
	    "{{challenge}} used but no challenge given");
	T_CHECK(p.xml == NULL);

	pf_profile_clear(&p);
	pf_profile_clear(&p);
	pf_profile_clear(NULL);
	pf_template_free(t);
}

/* The challenge appears once, as the SCEP Challenge. */
static void
test_challenge(void)
{
	static const char *const ch[] = { "PayloadContent", "0",
	    "PayloadContent", "Challenge", NULL };
	struct pf_template *t = NULL;
	struct pf_profile p;
	struct vars vs;
	plist_t r;
	const char *s;

	T_OK(load_file(&t, "templates/scep.plist"));
	vars_init(&vs, "ana@example.com", "Ana");
	T_OK(pf_profile_build(t, &vs.v, &p));
	s = strstr(p.xml, vs.v.challenge);
	T_CHECK(s != NULL && strstr(s + 1, vs.v.challenge) == NULL);
	r = reparse(&p);
	T_REQUIRE(r != NULL);
	T_CHECK(strcmp(str_at(r, ch), vs.v.challenge) == 0);
	plist_free(r);
	T_CHECK(strlen(p.xml) == p.len);
	pf_profile_clear(&p);
	T_CHECK(p.xml == NULL && p.len == 0);
	pf_template_free(t);
}

/* Every example builds, and Python reads what it expects. */
static void
test_examples_python(void)
{
	static const char *const files[] = {
		"templates/scep.plist", "templates/wifi-eaptls.plist",
		"templates/vpn-ikev2.plist",
	};
	static const char *const ident[] = { "PayloadIdentifier", NULL };
	static const char *const version[] = { "PayloadVersion", NULL };
	static const char *const keysize[] = { "PayloadContent", "0",
	    "PayloadContent", "Keysize", NULL };
	static const char *const keysize3[] = { "PayloadContent", "1",
	    "PayloadContent", "Keysize", NULL };
	struct pf_template *t;
	struct pf_profile p;
	struct vars vs;
	char got[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		t = NULL;
		T_OK(load_file(&t, files[i]));
		vars_init(&vs, "zoë@example.com", "Zoë O'Brien <QA & Ops>");
		T_OK(pf_profile_build(t, &vs.v, &p));
		T_CHECK(python_value(&p, ident, got, sizeof(got)));
		want[0] = 's';
		want[1] = ':';
		hex(p.identifier, want + 2);
		T_CHECK(strcmp(got, want) == 0);
		T_CHECK(python_value(&p, version, got, sizeof(got)));
		T_CHECK(strcmp(got, "1") == 0);
		T_CHECK(python_value(&p, i == 0 ? keysize : keysize3, got,
		    sizeof(got)));
		T_CHECK(strcmp(got, "2048") == 0);
		T_CHECK(p.nbindings == 2);
		pf_profile_clear(&p);
		pf_template_free(t);
	}
}

/* A template is shared by threads: build on two at once. */
struct worker {
	const struct pf_template *t;
	int errors;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct pf_profile p;
	struct vars vs;
	int i;

	vars_init(&vs, "ana@example.com", "Ana");
	for (i = 0; i < 500; i++) {
		struct pf_error *err = pf_profile_build(w->t, &vs.v, &p);

		if (err != NULL) {
			w->errors++;
			pf_error_free(err);
			continue;
		}
		pf_profile_clear(&p);
	}
	return NULL;
}

/* Every UUID (8-4-4-4-12 uppercase hex) in s replaced by "U". */
static void
mask_uuids(char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (strlen(r) >= 36 && is_uuid_n(r)) {
			*w++ = 'U';
			r += 36;
		} else
			*w++ = *r++;
	}
	*w = '\0';
}

/* pf_profile_build() gives the bytes libplist writes for the same tree
 * (pf_profile_build_tree()), UUIDs apart; the same errors too. */
static void
same_as_tree(const struct pf_template *t, const struct pf_profile_vars *v,
    const char *what)
{
	struct pf_profile a, b;
	struct pf_error *ea, *eb;
	size_t i;

	ea = pf_profile_build(t, v, &a);
	eb = pf_profile_build_tree(t, v, &b);
	if (ea != NULL || eb != NULL) {
		T_CHECK(ea != NULL && eb != NULL && ea->code == eb->code &&
		    strcmp(ea->msg, eb->msg) == 0);
		pf_error_free(ea);
		pf_error_free(eb);
		return;
	}
	mask_uuids(a.xml);
	mask_uuids(b.xml);
	if (strcmp(a.xml, b.xml) != 0) {
		fprintf(stderr, "%s: differs from libplist's tree:\n%s\n"
		    "----\n%s\n", what, a.xml, b.xml);
		t_fail = 1;
	}
	T_CHECK(strcmp(a.identifier, b.identifier) == 0);
	T_CHECK(is_uuid(a.uuid) && is_uuid(b.uuid));
	T_CHECK(a.nbindings == b.nbindings);
	for (i = 0; i < a.nbindings && i < b.nbindings; i++)
		T_CHECK(strcmp(a.bindings[i].kind, b.bindings[i].kind) == 0 &&
		    strcmp(a.bindings[i].name, b.bindings[i].name) == 0 &&
		    strcmp(a.bindings[i].value, b.bindings[i].value) == 0);
	pf_profile_clear(&a);
	pf_profile_clear(&b);
}

static void
test_same_as_tree(void)
{
	static const char *const files[] = {
		"templates/scep.plist", "templates/wifi-eaptls.plist",
		"templates/vpn-ikev2.plist",
	};
	static const char cr_xml[] = PROFILE_X(
	    TOP(KS("PayloadDescription", "a&#13;b &lt;{{name}}&gt; &amp;")
	    KS("PayloadOrganization", "{{department}}")),
	    SCEP(""));
	static const char *const typed[][3] = {
		{ "2048", "3", "yes" }, { "4096", "-0", "FALSE" },
		{ "1024", "-9223372036854775808", "1" },
		{ "2048", "9223372036854775807", "no" },
		{ "2047", "3", "yes" }, { "2048", "x", "yes" },
		{ "2048", "3", "maybe" },
	};
	struct pf_template *t;
	struct pf_profile_vars tv;
	const char *vals[3];
	struct vars vs;
	char what[64];
	size_t i, k;

	for (k = 0; k < 5; k++) {
		t = NULL;
		if (k < 3)
			T_OK(load_file(&t, files[k]));
		else
			T_OK(load(&t, k == 3 ? scep_xml : cr_xml, 0));
		if (t == NULL)
			continue;
		for (i = 0; i < NAWKWARD; i++) {
			vars_init(&vs, "ana@example.com", awkward[i]);
			snprintf(what, sizeof(what), "template %zu, value %zu",
			    k, i);
			same_as_tree(t, &vs.v, what);
		}
		vars_init(&vs, "b\x01d@example.com", "x");
		same_as_tree(t, &vs.v, "bad key");
		pf_template_free(t);
	}
	t = NULL;
	T_OK(load(&t, typed_xml, 0));
	for (i = 0; t != NULL && i < sizeof(typed) / sizeof(typed[0]); i++) {
		typed_vars(&tv, vals, typed[i][0], typed[i][1], typed[i][2]);
		snprintf(what, sizeof(what), "typed %zu", i);
		same_as_tree(t, &tv, what);
	}
	pf_template_free(t);
}

static void
test_threads(void)
{
	struct pf_template *t = NULL;
	struct worker w[2];
	pthread_t th[2];
	int i;

	T_OK(load_file(&t, "templates/vpn-ikev2.plist"));
	for (i = 0; i < 2; i++) {
		w[i].t = t;
		w[i].errors = 0;
		T_CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		T_CHECK(w[i].errors == 0);
	}
	pf_template_free(t);
}

/*
 * Not a timed test: report the fill + serialise time per profile for each
 * example template, on one core: the best of 10 batches of 500 builds
 * (wall clock), so that other load on the machine counts least.
 */
static void
test_speed(void)
{
	static const char *const files[] = {
		"templates/scep.plist", "templates/wifi-eaptls.plist",
		"templates/vpn-ikev2.plist",
	};
	struct pf_template *t;
	struct pf_profile p;
	struct timespec a, b;
	struct vars vs;
	size_t i, bytes = 0;
	int k, batch, n = 500;
	double us, best;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		t = NULL;
		T_OK(load_file(&t, files[i]));
		vars_init(&vs, "ana@example.com", "Ana Example");
		best = 1e9;
		for (batch = 0; batch < 10; batch++) {
			clock_gettime(CLOCK_MONOTONIC, &a);
			for (k = 0; k < n; k++) {
				T_OK(pf_profile_build(t, &vs.v, &p));
				bytes = p.len;
				pf_profile_clear(&p);
			}
			clock_gettime(CLOCK_MONOTONIC, &b);
			us = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
			    (double)(b.tv_nsec - a.tv_nsec)) / n / 1000.0;
			if (us < best)
				best = us;
		}
		printf("# %s: %.1f us per profile (fill + serialise, "
		    "%zu bytes)\n", files[i], best, bytes);
		pf_template_free(t);
	}
}

int
main(void)
{
	T_RUN(test_awkward_values);
	T_RUN(test_uuid_wiring);
	T_RUN(test_literal_uuids);
	T_RUN(test_literal_uuid_scope);
	T_RUN(test_template_line_ends);
	T_RUN(test_profile_too_large);
	T_RUN(test_seed_build);
	T_RUN(test_int_bool);
	T_RUN(test_enum_placeholder);
	T_RUN(test_message_utf8);
	T_RUN(test_bindings);
	T_RUN(test_literal_bindings);
	T_RUN(test_filled_ids);
	T_RUN(test_errors);
	T_RUN(test_challenge);
	T_RUN(test_examples_python);
	T_RUN(test_same_as_tree);
	T_RUN(test_threads);
	T_RUN(test_speed);
	T_DONE();
}
