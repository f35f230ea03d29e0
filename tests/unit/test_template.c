/*
 * Unit tests for template: loading, schema checks with key paths,
 * placeholder syntax, limits, the seed profile, the example templates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "template.h"
#include "t.h"

/* Warnings collected by the callback. */
struct warns {
	int n;
	char text[8192];
};

static void
collect(void *arg, const char *msg)
{
	struct warns *w = arg;
	size_t len = strlen(w->text);

	w->n++;
	snprintf(w->text + len, sizeof(w->text) - len, "%s\n", msg);
}

static struct pf_error *
load(struct pf_template **t, const char *xml, int force, struct warns *w)
{
	struct pf_warn pw = { collect, w };

	if (w != NULL)
		memset(w, 0, sizeof(*w));
	return pf_template_load(t, "t.plist", xml, strlen(xml), force,
	    w != NULL ? &pw : NULL);
}

#define XHEAD	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"		\
	"<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "	\
	"\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"		\
	"<plist version=\"1.0\">\n"
#define XTAIL	"</plist>\n"
#define KS(k, v)	"<key>" k "</key><string>" v "</string>"
#define KI(k, v)	"<key>" k "</key><integer>" v "</integer>"
#define TOP_TYPE	KS("PayloadType", "Configuration") KI("PayloadVersion", "1")
#define TOP_ID		KS("PayloadIdentifier", "com.example.t.{{user}}") \
	KS("PayloadUUID", "{{uuid:top}}")
#define PROFILE_X(top, payloads)					\
	XHEAD "<dict>" top "<key>PayloadContent</key><array>" payloads	\
	"</array></dict>" XTAIL
#define PROFILE(payloads)	PROFILE_X(TOP_TYPE TOP_ID, payloads)
#define PAYKEYS(type, id, uuid)						\
	KS("PayloadType", type) KI("PayloadVersion", "1")		\
	KS("PayloadIdentifier", id) KS("PayloadUUID", uuid)
#define SCEPX(content)							\
	"<dict>" PAYKEYS("com.apple.security.scep", "com.example.scep",	\
	"{{uuid:scep}}") "<key>PayloadContent</key><dict>" content	\
	"</dict></dict>"
#define SCEP_URL	KS("URL", "https://scep.example.com/scep")
#define SCEP_OK		SCEP_URL KS("Challenge", "{{challenge}}")
#define SCEP(extra)	SCEPX(SCEP_OK extra)
#define WIFI(extra)							\
	"<dict>" PAYKEYS("com.apple.wifi.managed", "com.example.wifi",	\
	"{{uuid:wifi}}") extra "</dict>"
#define EAP_TLS								\
	"<key>EAPClientConfiguration</key><dict><key>AcceptEAPTypes"	\
	"</key><array><integer>13</integer></array></dict>"
#define ACME(extra)							\
	"<dict>" PAYKEYS("com.apple.security.acme", "com.example.acme",	\
	"{{uuid:acme}}") extra "</dict>"
#define ACME_OK(type, size, bound)					\
	KS("DirectoryURL", "https://acme.example.com/directory")	\
	KS("ClientIdentifier", "{{user}}") KI("KeySize", size)		\
	KS("KeyType", type) "<key>HardwareBound</key><" bound "/>"	\
	"<key>Subject</key><array><array><array><string>CN</string>"	\
	"<string>{{name}}</string></array></array></array>"
#define VPN(extra)							\
	"<dict>" PAYKEYS("com.apple.vpn.managed", "com.example.vpn",	\
	"{{uuid:vpn}}") extra "</dict>"
#define IKEV2(extra)							\
	"<key>IKEv2</key><dict>" KS("RemoteAddress", "vpn.example.com")	\
	KS("RemoteIdentifier", "vpn.example.com")			\
	KS("LocalIdentifier", "{{email}}") extra "</dict>"
#define OTHER(extra)							\
	"<dict>" PAYKEYS("com.example.other", "com.example.other",	\
	"{{uuid:other}}") extra "</dict>"
#define PAIR(a, b)	"<array><string>" a "</string><string>" b "</string></array>"

/* A real (throw-away) DER certificate, base64. */
#define CERT_B64							\
	"MIIBeTCCAR+gAwIBAgIUJ5d3m2yJQ0Xgd2m1J1sQmJ3l3b8wCgYIKoZIzj0EAwIw" \
	"EjEQMA4GA1UEAwwHdGVzdCBDQTAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAw" \
	"MDBaMBIxEDAOBgNVBAMMB3Rlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC"

static void
test_example_templates(void)
{
	static const struct {
		const char *file;
		size_t npayloads;
		const char *last_type;
	} ex[] = {
		{ "templates/scep.plist", 1, "com.apple.security.scep" },
		{ "templates/wifi-eaptls.plist", 3, "com.apple.wifi.managed" },
		{ "templates/vpn-ikev2.plist", 3, "com.apple.vpn.managed" },
	};
	struct pf_template *t;
	struct pf_warn pw;
	struct warns w;
	size_t i, len = 0, k;
	char *xml;

	for (i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		xml = t_slurp(ex[i].file, &len);
		T_REQUIRE(xml != NULL);
		memset(&w, 0, sizeof(w));
		pw.fn = collect;
		pw.arg = &w;
		t = NULL;
		T_OK(pf_template_load(&t, ex[i].file, xml, len, 0, &pw));
		free(xml);
		if (w.n != 0)
			fprintf(stderr, "%s: warnings:\n%s", ex[i].file, w.text);
		T_CHECK(w.n == 0);
		T_CHECK(pf_template_has_challenge(t));
		T_CHECK(pf_template_npayloads(t) == ex[i].npayloads);
		T_CHECK(strcmp(pf_template_payload_type(t,
		    ex[i].npayloads - 1), ex[i].last_type) == 0);
		T_CHECK(strstr(pf_template_identifier(t), "{{user}}") != NULL);
		T_CHECK(pf_template_display_name(t) != NULL);
		/* every example uses email and name, nothing else */
		T_CHECK(pf_template_ncolumns(t) == 2);
		for (k = 0; k < pf_template_ncolumns(t); k++)
			T_CHECK(strcmp(pf_template_column(t, k), "email") == 0 ||
			    strcmp(pf_template_column(t, k), "name") == 0);
		if (ex[i].npayloads == 3)
			T_CHECK(strcmp(pf_template_payload_type(t, 0),
			    "com.apple.security.root") == 0);
		pf_template_free(t);
	}
}

/* The example profile of Apple's SCEP payload page. */
static const char seed_xml[] =
    XHEAD
    "<dict>\n"
    "    <key>PayloadContent</key>\n"
    "    <array>\n"
    "        <dict>\n"
    "            <key>PayloadContent</key>\n"
    "            <dict>\n"
    "                <key>Challenge</key>\n"
    "                <string>Example</string>\n"
    "                <key>Key Type</key>\n"
    "                <string>RSA</string>\n"
    "                <key>Key Usage</key>\n"
    "                <integer>5</integer>\n"
    "                <key>Keysize</key>\n"
    "                <integer>0</integer>\n"
    "                <key>Name</key>\n"
    "                <string>example.org</string>\n"
    "                <key>Subject</key>\n"
    "                <array>\n"
    "                    <array>\n"
    "                        <array>\n"
    "                            <string>C</string>\n"
    "                            <string>US</string>\n"
    "                        </array>\n"
    "                        <array>\n"
    "                            <string>O</string>\n"
    "                            <string>Example Inc.</string>\n"
    "                        </array>\n"
    "                        <array>\n"
    "                            <string>CN</string>\n"
    "                            <string>foo</string>\n"
    "                        </array>\n"
    "                        <array>\n"
    "                            <string>1.2.5.3</string>\n"
    "                            <string>bar</string>\n"
    "                        </array>\n"
    "                    </array>\n"
    "                </array>\n"
    "                <key>SubjectAltName</key>\n"
    "                <dict>\n"
    "                    <key>dNSName</key>\n"
    "                    <string>example.com</string>\n"
    "                    <key>ntPrincipalName</key>\n"
    "                    <string>hostname.example.com</string>\n"
    "                </dict>\n"
    "                <key>URL</key>\n"
    "                <string>https://hostname.example.com/</string>\n"
    "            </dict>\n"
    "            <key>PayloadIdentifier</key>\n"
    "            <string>com.example.myscepcertpayload</string>\n"
    "            <key>PayloadType</key>\n"
    "            <string>com.apple.security.scep</string>\n"
    "            <key>PayloadUUID</key>\n"
    "            <string>c0264fd7-1d89-4385-8806-759fbe78a622</string>\n"
    "            <key>PayloadVersion</key>\n"
    "            <integer>1</integer>\n"
    "        </dict>\n"
    "    </array>\n"
    "    <key>PayloadDisplayName</key>\n"
    "    <string>SCEP Certificate</string>\n"
    "    <key>PayloadIdentifier</key>\n"
    "    <string>com.example.myprofile</string>\n"
    "    <key>PayloadType</key>\n"
    "    <string>Configuration</string>\n"
    "    <key>PayloadUUID</key>\n"
    "    <string>bc0328a9-c199-4572-9e5e-ed59a73454fa</string>\n"
    "    <key>PayloadVersion</key>\n"
    "    <integer>1</integer>\n"
    "</dict>\n"
    XTAIL;

static void
test_seed(void)
{
	struct pf_template *t = NULL;
	struct warns w;

	T_ERR(load(&t, seed_xml, 0, &w), PF_EX_DATAERR,
	    "t.plist: PayloadContent[0].PayloadContent.Keysize: 0 is not one "
	    "of 1024, 2048, 4096");
	T_CHECK(t == NULL);
	T_OK(load(&t, seed_xml, 1, &w));
	T_CHECK(w.n == 2);
	T_CHECK(strstr(w.text, "PayloadContent[0].PayloadContent.Keysize: "
	    "0 is not one of") != NULL);
	T_CHECK(strstr(w.text, "PayloadContent[0].PayloadContent.Challenge: "
	    "literal challenge") != NULL);
	T_CHECK(!pf_template_has_challenge(t));
	T_CHECK(strcmp(pf_template_identifier(t), "com.example.myprofile") == 0);
	T_CHECK(strcmp(pf_template_display_name(t), "SCEP Certificate") == 0);
	T_CHECK(pf_template_npayloads(t) == 1);
	T_CHECK(pf_template_ncolumns(t) == 0);
	pf_template_free(t);
}

/* Templates that must be refused, and a substring of the message. */
static const struct {
	const char *name;
	const char *xml;
	int force;
	const char *want;
} bad[] = {
	/* SCEP */
	{ "two challenges", PROFILE(SCEP("") "<dict>" PAYKEYS(
	  "com.apple.security.scep", "com.example.scep2", "{{uuid:s2}}")
	  "<key>PayloadContent</key><dict>" SCEP_OK "</dict></dict>"), 1,
	  "PayloadContent[1].PayloadContent.Challenge: a second SCEP payload "
	  "with {{challenge}}: a profile carries one one-time challenge" },
	{ "keysize type", PROFILE(SCEP(KS("Keysize", "2048"))), 0,
	  "t.plist: PayloadContent[0].PayloadContent.Keysize: expected "
	  "integer, found string" },
	{ "keysize 0", PROFILE(SCEP(KI("Keysize", "0"))), 0,
	  "PayloadContent[0].PayloadContent.Keysize: 0 is not one of 1024, "
	  "2048, 4096 (--force accepts it)" },
	{ "keysize 512", PROFILE(SCEP(KI("Keysize", "512"))), 0,
	  "Keysize: 512 is not one of" },
	{ "keysize bool", PROFILE(SCEP(KS("Keysize", "{{bool:ks}}"))), 0,
	  "Keysize: expected integer, found boolean" },
	{ "key type", PROFILE(SCEP(KS("Key Type", "EC"))), 0,
	  "PayloadContent[0].PayloadContent.Key Type: \"EC\" is not one of "
	  "RSA" },
	{ "key usage", PROFILE(SCEP(KI("Key Usage", "3"))), 1,
	  "Key Usage: 3 is not one of 0, 1, 4, 5" },
	{ "retries", PROFILE(SCEP("<key>Retries</key><real>1.5</real>")), 0,
	  "Retries: expected integer, found real" },
	{ "extractable", PROFILE(SCEP(KS("KeyIsExtractable", "no"))), 0,
	  "KeyIsExtractable: expected boolean, found string" },
	{ "cafingerprint", PROFILE(SCEP(KS("CAFingerprint", "ab:cd"))), 0,
	  "CAFingerprint: expected data, found string" },
	{ "no url", PROFILE(SCEPX(KS("Challenge", "{{challenge}}"))), 0,
	  "PayloadContent[0].PayloadContent.URL: required key missing" },
	{ "url type", PROFILE(SCEPX(KI("URL", "1"))), 0,
	  "PayloadContent.URL: expected string, found integer" },
	{ "no scep content",
	  PROFILE("<dict>" PAYKEYS("com.apple.security.scep", "a", "b")
	  "</dict>"), 0,
	  "PayloadContent[0].PayloadContent: required key missing" },
	{ "scep content array",
	  PROFILE("<dict>" PAYKEYS("com.apple.security.scep", "a", "b")
	  "<key>PayloadContent</key><array/></dict>"), 0,
	  "PayloadContent[0].PayloadContent: expected dictionary, found "
	  "array" },
	{ "subject string", PROFILE(SCEP(KS("Subject", "CN=x"))), 0,
	  "PayloadContent.Subject: expected array, found string" },
	{ "subject rdn string",
	  PROFILE(SCEP("<key>Subject</key><array><string>CN</string>"
	  "</array>")), 0,
	  "Subject[0]: expected array, found string" },
	{ "subject rdn empty",
	  PROFILE(SCEP("<key>Subject</key><array><array/></array>")), 0,
	  "Subject[0]: expected at least 1 item, found 0" },
	{ "subject pair of 3",
	  PROFILE(SCEP("<key>Subject</key><array><array>" PAIR("O", "x")
	  "<array><string>CN</string><string>a</string><string>b</string>"
	  "</array></array></array>")), 0,
	  "PayloadContent[0].PayloadContent.Subject[0][1]: expected 2 items, "
	  "found 3" },
	{ "subject pair of 1",
	  PROFILE(SCEP("<key>Subject</key><array><array><array><string>CN"
	  "</string></array></array></array>")), 0,
	  "Subject[0][0]: expected 2 items, found 1" },
	{ "subject value int",
	  PROFILE(SCEP("<key>Subject</key><array><array><array><string>CN"
	  "</string><integer>1</integer></array></array></array>")), 0,
	  "Subject[0][0][1]: expected string, found integer" },
	{ "subject type placeholder",
	  PROFILE(SCEP("<key>Subject</key><array><array>"
	  PAIR("{{type}}", "x") "</array></array>")), 0,
	  "Subject[0][0][0]: the attribute type must be literal" },
	{ "san int", PROFILE(SCEP("<key>SubjectAltName</key><dict>"
	  KI("dNSName", "1") "</dict>")), 0,
	  "SubjectAltName.dNSName: expected string or array of strings, "
	  "found integer" },
	{ "san array int", PROFILE(SCEP("<key>SubjectAltName</key><dict>"
	  "<key>rfc822Name</key><array><string>a</string><integer>1"
	  "</integer></array></dict>")), 0,
	  "SubjectAltName.rfc822Name[1]: expected string, found integer" },
	{ "san string", PROFILE(SCEP(KS("SubjectAltName", "x"))), 0,
	  "SubjectAltName: expected dictionary, found string" },
	{ "literal challenge",
	  PROFILE(SCEPX(SCEP_URL KS("Challenge", "secret"))), 0,
	  "PayloadContent[0].PayloadContent.Challenge: literal challenge" },
	{ "challenge not whole",
	  PROFILE(SCEPX(SCEP_URL KS("Challenge", "x{{challenge}}"))), 0,
	  "Challenge: must be exactly \"{{challenge}}\"" },
	{ "challenge column",
	  PROFILE(SCEPX(SCEP_URL KS("Challenge", "{{pin}}"))), 0,
	  "Challenge: literal challenge" },
	{ "challenge elsewhere", PROFILE(SCEP(KS("Name", "{{challenge}}"))),
	  1, "PayloadContent[0].PayloadContent.Name: {{challenge}} is allowed "
	  "only as the Challenge of a SCEP payload" },
	{ "challenge in description",
	  PROFILE_X(TOP_TYPE TOP_ID KS("PayloadDescription", "{{challenge}}"),
	  SCEP("")), 0, "PayloadDescription: {{challenge}} is allowed only" },
	{ "challenge in other payload",
	  PROFILE(SCEP("") OTHER(KS("Secret", "{{challenge}}"))), 0,
	  "PayloadContent[1].Secret: {{challenge}} is allowed only" },

	/* top level */
	{ "top type", PROFILE_X(KS("PayloadType", "Profile")
	  KI("PayloadVersion", "1") TOP_ID, SCEP("")), 0,
	  "t.plist: PayloadType: \"Profile\" is not one of Configuration" },
	{ "top type placeholder", PROFILE_X(KS("PayloadType", "{{t}}")
	  KI("PayloadVersion", "1") TOP_ID, SCEP("")), 0,
	  "PayloadType: placeholders are not allowed here" },
	{ "top version", PROFILE_X(KS("PayloadType", "Configuration")
	  KI("PayloadVersion", "2") TOP_ID, SCEP("")), 0,
	  "t.plist: PayloadVersion: 2 is not one of 1" },
	{ "top version type", PROFILE_X(KS("PayloadType", "Configuration")
	  KS("PayloadVersion", "1") TOP_ID, SCEP("")), 0,
	  "PayloadVersion: expected integer, found string" },
	{ "top no uuid", PROFILE_X(TOP_TYPE KS("PayloadIdentifier", "a"),
	  SCEP("")), 0, "t.plist: PayloadUUID: required key missing" },
	{ "top no identifier", PROFILE_X(TOP_TYPE KS("PayloadUUID", "a"),
	  SCEP("")), 0, "t.plist: PayloadIdentifier: required key missing" },
	{ "top no content", XHEAD "<dict>" TOP_TYPE TOP_ID "</dict>" XTAIL, 0,
	  "t.plist: PayloadContent: required key missing" },
	{ "top content empty", PROFILE(""), 0,
	  "PayloadContent: expected at least 1 item, found 0" },
	{ "top content dict", XHEAD "<dict>" TOP_TYPE TOP_ID
	  "<key>PayloadContent</key><dict/></dict>" XTAIL, 0,
	  "PayloadContent: expected array, found dictionary" },
	{ "payload not dict", PROFILE(SCEP("") "<string>x</string>"), 0,
	  "PayloadContent[1]: expected dictionary, found string" },
	{ "scope", PROFILE_X(TOP_TYPE TOP_ID KS("PayloadScope", "Device"),
	  SCEP("")), 0, "PayloadScope: \"Device\" is not one of System, User" },
	{ "removal disallowed", PROFILE_X(TOP_TYPE TOP_ID
	  KS("PayloadRemovalDisallowed", "true"), SCEP("")), 0,
	  "PayloadRemovalDisallowed: expected boolean, found string" },
	{ "removal date", PROFILE_X(TOP_TYPE TOP_ID
	  KS("RemovalDate", "2030-01-01"), SCEP("")), 0,
	  "RemovalDate: expected date, found string" },
	{ "duration", PROFILE_X(TOP_TYPE TOP_ID
	  KS("DurationUntilRemoval", "3600"), SCEP("")), 0,
	  "DurationUntilRemoval: expected real, found string" },
	{ "display name", PROFILE_X(TOP_TYPE TOP_ID
	  KI("PayloadDisplayName", "1"), SCEP("")), 0,
	  "t.plist: PayloadDisplayName: expected string, found integer" },
	{ "consent text", PROFILE_X(TOP_TYPE TOP_ID "<key>ConsentText</key>"
	  "<dict>" KI("en", "1") "</dict>", SCEP("")), 0,
	  "ConsentText.en: expected string, found integer" },
	{ "target device", PROFILE_X(TOP_TYPE TOP_ID
	  KI("TargetDeviceType", "9"), SCEP("")), 0,
	  "TargetDeviceType: 9 is not one of 0, 1, 2, 3, 4, 5, 6" },
	{ "identifier run", PROFILE_X(TOP_TYPE KS("PayloadUUID", "u")
	  KS("PayloadIdentifier", "com.example.{{run}}"), SCEP("")), 0,
	  "t.plist: PayloadIdentifier: {{challenge}}, {{uuid:...}} and "
	  "{{run}} are not allowed" },
	{ "identifier uuid", PROFILE_X(TOP_TYPE KS("PayloadUUID", "u")
	  KS("PayloadIdentifier", "com.example.{{uuid:x}}"), SCEP("")), 0,
	  "PayloadIdentifier: {{challenge}}, {{uuid:...}} and {{run}} are not "
	  "allowed" },
	{ "identifier challenge", PROFILE_X(TOP_TYPE KS("PayloadUUID", "u")
	  KS("PayloadIdentifier", "{{challenge}}"), SCEP("")), 0,
	  "PayloadIdentifier: {{challenge}}, {{uuid:...}} and {{run}} are not "
	  "allowed" },

	/* every payload */
	{ "payload no version", PROFILE("<dict>" KS("PayloadType", "x")
	  KS("PayloadIdentifier", "a") KS("PayloadUUID", "b") "</dict>"), 0,
	  "PayloadContent[0].PayloadVersion: required key missing" },
	{ "payload no type", PROFILE("<dict>" KI("PayloadVersion", "1")
	  KS("PayloadIdentifier", "a") KS("PayloadUUID", "b") "</dict>"), 0,
	  "PayloadContent[0].PayloadType: required key missing" },
	{ "payload no uuid", PROFILE(SCEP("") "<dict>"
	  KS("PayloadType", "x") KI("PayloadVersion", "1")
	  KS("PayloadIdentifier", "a") "</dict>"), 0,
	  "PayloadContent[1].PayloadUUID: required key missing" },
	{ "payload version 0", PROFILE("<dict>" KS("PayloadType", "x")
	  KI("PayloadVersion", "0") KS("PayloadIdentifier", "a")
	  KS("PayloadUUID", "b") "</dict>"), 0,
	  "PayloadContent[0].PayloadVersion: 0 is not one of 1" },
	{ "payload uuid type", PROFILE("<dict>" KS("PayloadType", "x")
	  KI("PayloadVersion", "1") KS("PayloadIdentifier", "a")
	  "<key>PayloadUUID</key><true/></dict>"), 0,
	  "PayloadContent[0].PayloadUUID: expected string, found boolean" },
	{ "payload type placeholder", PROFILE("<dict>"
	  KS("PayloadType", "com.{{x}}") KI("PayloadVersion", "1")
	  KS("PayloadIdentifier", "a") KS("PayloadUUID", "b") "</dict>"), 0,
	  "PayloadContent[0].PayloadType: placeholders are not allowed here" },
	{ "payload display name", PROFILE(SCEP("") OTHER(
	  KI("PayloadDisplayName", "3"))), 0,
	  "PayloadContent[1].PayloadDisplayName: expected string, found "
	  "integer" },
	{ "duplicate identifier", PROFILE(
	  "<dict>" PAYKEYS("x", "com.example.x", "u1") "</dict>"
	  "<dict>" PAYKEYS("y", "com.example.x", "u2") "</dict>"), 0,
	  "PayloadContent[1].PayloadIdentifier: \"com.example.x\" is also the "
	  "PayloadIdentifier of PayloadContent[0]" },
	{ "duplicate uuid", PROFILE(
	  "<dict>" PAYKEYS("x", "a", "{{uuid:same}}") "</dict>"
	  "<dict>" PAYKEYS("y", "b", "{{uuid:same}}") "</dict>"), 0,
	  "PayloadContent[1].PayloadUUID: \"{{uuid:same}}\" is also the "
	  "PayloadUUID of PayloadContent[0]" },
	{ "uuid same as profile", PROFILE(
	  "<dict>" PAYKEYS("x", "a", "{{uuid:top}}") "</dict>"), 0,
	  "PayloadContent[0].PayloadUUID: \"{{uuid:top}}\" is also the "
	  "profile's PayloadUUID" },

	/* certificates */
	{ "root not der", PROFILE("<dict>" PAYKEYS("com.apple.security.root",
	  "r", "{{uuid:r}}") "<key>PayloadContent</key><data>AAECAw==</data>"
	  "</dict>"), 0,
	  "PayloadContent[0].PayloadContent: not a DER X.509 certificate" },
	{ "root truncated", PROFILE("<dict>" PAYKEYS("com.apple.security.root",
	  "r", "{{uuid:r}}") "<key>PayloadContent</key><data>" CERT_B64
	  "</data></dict>"), 0,
	  "PayloadContent[0].PayloadContent: not a DER X.509 certificate" },
	{ "pkcs1 empty", PROFILE("<dict>" PAYKEYS("com.apple.security.pkcs1",
	  "r", "{{uuid:r}}") "<key>PayloadContent</key><data></data>"
	  "</dict>"), 0, "PayloadContent[0].PayloadContent: empty certificate" },
	{ "root string", PROFILE("<dict>" PAYKEYS("com.apple.security.root",
	  "r", "{{uuid:r}}") KS("PayloadContent", "MIIB") "</dict>"), 0,
	  "PayloadContent[0].PayloadContent: expected data, found string" },
	{ "root missing", PROFILE("<dict>" PAYKEYS("com.apple.security.root",
	  "r", "{{uuid:r}}") "</dict>"), 0,
	  "PayloadContent[0].PayloadContent: required key missing" },
	{ "pem garbage", PROFILE("<dict>" PAYKEYS("com.apple.security.pem",
	  "r", "{{uuid:r}}") "<key>PayloadContent</key><data>aGVsbG8=</data>"
	  "</dict>"), 0,
	  "PayloadContent[0].PayloadContent: not a PEM certificate" },

	/* Wi-Fi */
	{ "wifi no ssid", PROFILE(SCEP("") WIFI(KS("EncryptionType", "WPA2"))),
	  0, "PayloadContent[1].SSID_STR: required key missing" },
	{ "wifi encryption", PROFILE(WIFI(KS("SSID_STR", "x")
	  KS("EncryptionType", "WPA4"))), 0,
	  "PayloadContent[0].EncryptionType: \"WPA4\" is not one of WEP, WPA, "
	  "WPA2, WPA3, Any, None" },
	{ "wifi autojoin", PROFILE(WIFI(KS("SSID_STR", "x")
	  KS("AutoJoin", "yes"))), 0,
	  "PayloadContent[0].AutoJoin: expected boolean, found string" },
	{ "wifi ssid int", PROFILE(WIFI(KI("SSID_STR", "5"))), 0,
	  "PayloadContent[0].SSID_STR: expected string, found integer" },
	{ "wifi eap string types", PROFILE(WIFI(KS("SSID_STR", "x")
	  "<key>EAPClientConfiguration</key><dict><key>AcceptEAPTypes</key>"
	  "<array><string>13</string></array></dict>")), 0,
	  "PayloadContent[0].EAPClientConfiguration.AcceptEAPTypes[0]: "
	  "expected integer, found string" },
	{ "wifi eap 99", PROFILE(WIFI(KS("SSID_STR", "x")
	  "<key>EAPClientConfiguration</key><dict><key>AcceptEAPTypes</key>"
	  "<array><integer>99</integer></array></dict>")), 0,
	  "AcceptEAPTypes[0]: 99 is not one of 13, 17, 18, 21, 23, 25, 43" },
	{ "wifi eap missing types", PROFILE(WIFI(KS("SSID_STR", "x")
	  "<key>EAPClientConfiguration</key><dict/>")), 0,
	  "PayloadContent[0].EAPClientConfiguration.AcceptEAPTypes: required "
	  "key missing" },
	{ "wifi eap string", PROFILE(WIFI(KS("SSID_STR", "x")
	  KS("EAPClientConfiguration", "tls"))), 0,
	  "EAPClientConfiguration: expected dictionary, found string" },
	{ "wifi cert uuid unwired", PROFILE(SCEP("") WIFI(KS("SSID_STR", "x")
	  EAP_TLS KS("PayloadCertificateUUID", "{{uuid:nope}}"))), 0,
	  "PayloadContent[1].PayloadCertificateUUID: \"{{uuid:nope}}\" is not "
	  "the PayloadUUID of a payload in this profile" },
	{ "wifi cert uuid profile", PROFILE(SCEP("") WIFI(KS("SSID_STR", "x")
	  EAP_TLS KS("PayloadCertificateUUID", "{{uuid:top}}"))), 0,
	  "PayloadCertificateUUID: \"{{uuid:top}}\" is not the PayloadUUID" },
	{ "wifi cert uuid int", PROFILE(SCEP("") WIFI(KS("SSID_STR", "x")
	  EAP_TLS KI("PayloadCertificateUUID", "1"))), 0,
	  "PayloadContent[1].PayloadCertificateUUID: expected string, found "
	  "integer" },
	{ "wifi anchor unwired", PROFILE(SCEP("") WIFI(KS("SSID_STR", "x")
	  KS("PayloadCertificateUUID", "{{uuid:scep}}")
	  "<key>EAPClientConfiguration</key><dict><key>AcceptEAPTypes</key>"
	  "<array><integer>13</integer></array>"
	  "<key>PayloadCertificateAnchorUUID</key><array>"
	  "<string>{{uuid:scep}}</string><string>{{uuid:root}}</string>"
	  "</array></dict>")), 0,
	  "EAPClientConfiguration.PayloadCertificateAnchorUUID[0]: "
	  "\"{{uuid:scep}}\" is the PayloadUUID of a payload that holds no "
	  "certificate to trust" },
	{ "wifi anchor missing", PROFILE(SCEP("") WIFI(KS("SSID_STR", "x")
	  KS("PayloadCertificateUUID", "{{uuid:scep}}")
	  "<key>EAPClientConfiguration</key><dict><key>AcceptEAPTypes</key>"
	  "<array><integer>13</integer></array>"
	  "<key>PayloadCertificateAnchorUUID</key><array>"
	  "<string>{{uuid:root}}</string></array></dict>")), 0,
	  "EAPClientConfiguration.PayloadCertificateAnchorUUID[0]: "
	  "\"{{uuid:root}}\" is not the PayloadUUID of a payload" },
	{ "wifi literal uuid unwired", PROFILE(
	  "<dict>" PAYKEYS("com.apple.security.scep", "s",
	  "1B4C3E2A-0000-4000-8000-000000000001")
	  "<key>PayloadContent</key><dict>" SCEP_OK "</dict></dict>"
	  WIFI(KS("SSID_STR", "x") EAP_TLS KS("PayloadCertificateUUID",
	  "1B4C3E2A-0000-4000-8000-000000000002"))), 0,
	  "PayloadContent[1].PayloadCertificateUUID: "
	  "\"1B4C3E2A-0000-4000-8000-000000000002\" is not the PayloadUUID" },
	{ "wifi setup mode", PROFILE(WIFI(KS("SSID_STR", "x")
	  "<key>SetupModes</key><array><string>Boot</string></array>")), 0,
	  "SetupModes[0]: \"Boot\" is not one of System, Loginwindow" },

	/* VPN */
	{ "vpn no type", PROFILE(VPN(KS("UserDefinedName", "v"))), 0,
	  "PayloadContent[0].VPNType: required key missing" },
	{ "vpn no name", PROFILE(VPN(KS("VPNType", "IKEv2"))), 0,
	  "PayloadContent[0].UserDefinedName: required key missing" },
	{ "vpn bad type", PROFILE(VPN(KS("VPNType", "PPTP")
	  KS("UserDefinedName", "v"))), 0,
	  "PayloadContent[0].VPNType: \"PPTP\" is not one of VPN, L2TP, IPSec, "
	  "IKEv2, AlwaysOn, TransparentProxy" },
	{ "vpn ikev2 missing", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v"))), 0,
	  "PayloadContent[0].IKEv2: required when VPNType is IKEv2" },
	{ "vpn ikev2 auth", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v")
	  IKEV2(KS("AuthenticationMethod", "Password")))), 0,
	  "PayloadContent[0].IKEv2.AuthenticationMethod: \"Password\" is not "
	  "one of None, SharedSecret, Certificate" },
	{ "vpn ikev2 no auth", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(""))), 0,
	  "PayloadContent[0].IKEv2.AuthenticationMethod: required key "
	  "missing" },
	{ "vpn ikev2 no remote", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") "<key>IKEv2</key><dict>"
	  KS("AuthenticationMethod", "None") "</dict>")), 0,
	  "PayloadContent[0].IKEv2.RemoteAddress: required key missing" },
	{ "vpn ikev2 remote int", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") "<key>IKEv2</key><dict>"
	  KI("RemoteAddress", "1") KS("RemoteIdentifier", "r")
	  KS("LocalIdentifier", "l") KS("AuthenticationMethod", "None")
	  "</dict>")), 0,
	  "PayloadContent[0].IKEv2.RemoteAddress: expected string, found "
	  "integer" },
	{ "vpn ikev2 unwired", PROFILE(SCEP("") VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod",
	  "Certificate") KS("PayloadCertificateUUID", "{{uuid:scpe}}")))), 0,
	  "PayloadContent[1].IKEv2.PayloadCertificateUUID: \"{{uuid:scpe}}\" "
	  "is not the PayloadUUID" },
	{ "vpn ikev2 dh", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod", "None")
	  "<key>IKESecurityAssociationParameters</key><dict>"
	  KI("DiffieHellmanGroup", "3") "</dict>"))), 0,
	  "IKEv2.IKESecurityAssociationParameters.DiffieHellmanGroup: 3 is not "
	  "one of" },
	{ "vpn ikev2 certtype", PROFILE(SCEP("") VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod",
	  "Certificate") KS("PayloadCertificateUUID", "{{uuid:scep}}")
	  KS("CertificateType", "RSA") KI("ExtendedAuthEnabled", "1")))), 0,
	  "PayloadContent[1].IKEv2.ServerCertificateIssuerCommonName: required "
	  "when CertificateType is set and ExtendedAuthEnabled is 1" },
	{ "vpn ikev2 extended auth from the data", PROFILE(SCEP("")
	  VPN(KS("VPNType", "IKEv2") KS("UserDefinedName", "v")
	  IKEV2(KS("AuthenticationMethod", "Certificate")
	  KS("PayloadCertificateUUID", "{{uuid:scep}}")
	  KS("CertificateType", "RSA") KS("ExtendedAuthEnabled",
	  "{{int:xa}}")))), 0, "PayloadContent[1].IKEv2.ExtendedAuthEnabled: "
	  "placeholders are not allowed here" },
	/* VPN dictionaries other than IKEv2 (Apple's schema) */
	{ "vpn dns", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod", "None"))
	  "<key>DNS</key><dict>" KS("ServerURL", "https://x") "</dict>")), 0,
	  "PayloadContent[0].DNS.DNSProtocol: required key missing" },
	{ "vpn ipsec auth", PROFILE(VPN(KS("VPNType", "IPSec")
	  KS("UserDefinedName", "v") "<key>IPSec</key><dict>"
	  KS("AuthenticationMethod", "Bogus") "</dict>")), 0,
	  "PayloadContent[0].IPSec.AuthenticationMethod: \"Bogus\" is not one "
	  "of SharedSecret, Certificate" },
	{ "vpn always on", PROFILE(VPN(KS("VPNType", "AlwaysOn")
	  KS("UserDefinedName", "v") "<key>AlwaysOn</key><dict>"
	  KI("UIToggleEnabled", "1") "</dict>")), 0,
	  "PayloadContent[0].AlwaysOn.TunnelConfigurations: required key "
	  "missing" },
	{ "vpn action parameters", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod", "None")
	  "<key>OnDemandRules</key><array><dict>" KS("Action",
	  "EvaluateConnection") "<key>ActionParameters</key><array><dict>"
	  KS("DomainAction", "NeverConnect") "</dict></array></dict></array>"))),
	  0, "PayloadContent[0].IKEv2.OnDemandRules[0].ActionParameters[0]."
	  "Domains: required key missing" },
	/* references and UUIDs */
	{ "uuid from a column", PROFILE("<dict>" PAYKEYS(
	  "com.apple.security.scep", "com.example.scep", "{{user}}")
	  "<key>PayloadContent</key><dict>" SCEP_OK "</dict></dict>"), 0,
	  "PayloadContent[0].PayloadUUID: only {{uuid:LABEL}} or a literal" },
	{ "top uuid from the template", "<plist><dict>" TOP_TYPE
	  KS("PayloadIdentifier", "com.example.t.{{user}}")
	  KS("PayloadUUID", "{{template}}-x")
	  "<key>PayloadContent</key><array>" SCEP("") "</array></dict></plist>",
	  0, "t.plist: PayloadUUID: only {{uuid:LABEL}} or a literal" },
	{ "identity from itself", PROFILE(WIFI(KS("SSID_STR", "n")
	  KS("PayloadCertificateUUID", "{{uuid:wifi}}"))), 0,
	  "PayloadContent[0].PayloadCertificateUUID: \"{{uuid:wifi}}\" is the "
	  "PayloadUUID of a payload that holds no identity" },
	/* ACME and PKCS#12 */
	{ "acme missing", PROFILE(ACME(KS("DirectoryURL", "https://a/d"))), 0,
	  "PayloadContent[0].ClientIdentifier: required key missing" },
	{ "acme key type", PROFILE(ACME(ACME_OK("Bogus", "256", "false"))), 0,
	  "PayloadContent[0].KeyType: \"Bogus\" is not one of RSA, "
	  "ECSECPrimeRandom" },
	{ "acme key size from the data", PROFILE(ACME(
	  KS("DirectoryURL", "https://acme.example.com/directory")
	  KS("ClientIdentifier", "{{user}}") KS("KeySize", "{{int:ks}}")
	  KS("KeyType", "ECSECPrimeRandom") "<key>HardwareBound</key><false/>"
	  "<key>Subject</key><array><array><array><string>CN</string>"
	  "<string>{{name}}</string></array></array></array>")), 0,
	  "PayloadContent[0].KeySize: placeholders are not allowed here" },
	{ "acme rsa size", PROFILE(ACME(ACME_OK("RSA", "1000", "false"))), 0,
	  "PayloadContent[0].KeySize: 1000: an RSA key is 1024 to 4096 bits" },
	{ "acme bound rsa", PROFILE(ACME(ACME_OK("RSA", "2048", "true"))), 0,
	  "PayloadContent[0].HardwareBound: a hardware-bound key must be "
	  "ECSECPrimeRandom" },
	{ "acme bound size", PROFILE(ACME(ACME_OK("ECSECPrimeRandom", "521",
	  "true"))), 0, "PayloadContent[0].KeySize: 521: a hardware-bound key "
	  "is 256 or 384 bits" },
	{ "pkcs12 content", PROFILE("<dict>" PAYKEYS("com.apple.security.pkcs12",
	  "com.example.p12", "{{uuid:p12}}") KS("Password", "x") "</dict>"), 0,
	  "PayloadContent[0].PayloadContent: required key missing" },
	{ "vpn deep cert uuid", PROFILE(VPN(KS("VPNType", "IPSec")
	  KS("UserDefinedName", "v") "<key>IPSec</key><dict>"
	  KS("PayloadCertificateUUID", "{{uuid:none}}") "</dict>")), 0,
	  "PayloadContent[0].IPSec.PayloadCertificateUUID: \"{{uuid:none}}\" is "
	  "not the PayloadUUID" },

	/* placeholders */
	{ "unclosed", PROFILE(SCEP(KS("Name", "{{email"))), 0,
	  "PayloadContent[0].PayloadContent.Name: \"{{\" without a closing "
	  "\"}}\"" },
	{ "empty", PROFILE(SCEP(KS("Name", "a{{}}b"))), 0,
	  "PayloadContent.Name: empty placeholder \"{{}}\"" },
	{ "nested", PROFILE(SCEP(KS("Name", "{{a{{b}}"))), 0,
	  "PayloadContent.Name: malformed placeholder" },
	{ "int not whole", PROFILE(SCEP(KS("Name", "x {{int:age}}"))), 0,
	  "PayloadContent.Name: \"{{int:age}}\" must be the whole string" },
	{ "bool not whole", PROFILE(SCEP(KS("Name", "{{bool:b}} "))), 0,
	  "PayloadContent.Name: \"{{bool:b}}\" must be the whole string" },
	{ "int empty", PROFILE(SCEP(KS("Name", "{{int:}}"))), 0,
	  "empty column in \"{{int:}}\"" },
	{ "int as string", PROFILE(SCEP(KS("Name", "{{int:n}}"))), 0,
	  "PayloadContent.Name: expected string, found integer" },
	{ "unknown form", PROFILE(SCEP(KS("Name", "{{foo:bar}}"))), 0,
	  "PayloadContent.Name: unknown placeholder \"{{foo:bar}}\"" },
	{ "uuid empty", PROFILE(SCEP(KS("Name", "{{uuid:}}"))), 0,
	  "empty label in \"{{uuid:}}\"" },
	{ "key placeholder", PROFILE(SCEP("<key>{{k}}</key><string>v</string>")),
	  0, "PayloadContent[0].PayloadContent.{{k}}: placeholder in a "
	  "dictionary key" },
	{ "data placeholder", PROFILE(SCEP("<key>CAFingerprint</key>"
	  "<data>{{fp}}</data>")), 0,
	  "PayloadContent[0].PayloadContent.CAFingerprint: placeholder in "
	  "<data>" },
	{ "second data placeholder", PROFILE(SCEP("<key>CAFingerprint</key>"
	  "<data>AAAA</data>") OTHER("<key>D</key><data>{{x}}</data>")), 0,
	  "PayloadContent[1].D: placeholder in <data>" },
	{ "integer placeholder", PROFILE(SCEP("<key>Keysize</key>"
	  "<integer>{{int:ks}}</integer>")), 0,
	  "line 4: placeholder in <integer>: write <string>{{int:COLUMN}}" },
	{ "date placeholder", PROFILE_X(TOP_TYPE TOP_ID "<key>RemovalDate</key>"
	  "<date>{{d}}</date>", SCEP("")), 0, "placeholder in <date>" },

	/* structure and limits */
	{ "not xml", "hello", 0, "t.plist: not an XML plist" },
	{ "empty", "", 0, "t.plist: not an XML plist" },
	{ "binary", "bplist00\xd1\x01\x02", 0, "t.plist: a binary plist" },
	{ "root array", XHEAD "<array/>" XTAIL, 0,
	  "t.plist: root: expected dictionary, found array" },
	{ "root string", XHEAD "<string>x</string>" XTAIL, 0,
	  "t.plist: root: expected dictionary, found string" },
	{ "no plist", "<dict></dict>", 0,
	  "line 1: expected <plist>, found <dict>" },
	{ "two values", XHEAD "<dict/><dict/>" XTAIL, 0,
	  "line 4: more than one value in <plist>" },
	{ "empty plist", XHEAD XTAIL, 0, "line 4: empty <plist>" },
	{ "after plist", XHEAD "<dict/>" XTAIL "<plist><dict/></plist>", 0,
	  "<plist> after </plist>" },
	{ "text after", XHEAD "<dict/>" XTAIL "junk", 0,
	  "text outside an element" },
	{ "unclosed dict", XHEAD "<dict><key>a</key><string>b</string>", 0,
	  "unexpected end of input inside <dict>" },
	{ "mismatched", XHEAD "<dict><key>a</key><string>b</dict>" XTAIL, 0,
	  "line 4: unexpected </dict>" },
	{ "duplicate key", PROFILE(SCEP(KS("Name", "a") KS("Name", "b"))), 0,
	  "PayloadContent[0].PayloadContent: a key appears twice in this "
	  "dictionary" },
	{ "duplicate top key", PROFILE_X(TOP_TYPE TOP_ID
	  KS("PayloadType", "Configuration"), SCEP("")), 0,
	  "t.plist: root: a key appears twice" },
	{ "key without value", XHEAD "<dict><key>a</key></dict>" XTAIL, 0,
	  "line 4: <key> without a value" },
	{ "value without key", XHEAD "<dict><string>a</string></dict>" XTAIL,
	  0, "<string> where a <key> is expected" },
	{ "two keys", XHEAD "<dict><key>a</key><key>b</key></dict>" XTAIL, 0,
	  "<key> where a value is expected" },
	{ "key in array", XHEAD "<array><key>a</key></array>" XTAIL, 0,
	  "<key> inside an <array>" },
	{ "empty key", XHEAD "<dict><key/><string>a</string></dict>" XTAIL, 0,
	  "empty <key/>" },
	{ "unknown element", XHEAD "<dict><key>a</key><foo>1</foo></dict>"
	  XTAIL, 0, "line 4: unknown element <foo>" },
	{ "line numbers by LF, lone CRs aside", XHEAD "<dict>\r<key>a</key>"
	  "\r<string>x</string>\r\n<key>b</key>\r<foo/></dict>" XTAIL, 0,
	  "line 5: unknown element <foo>" },
	{ "line numbers, CR LF", XHEAD "<dict>\r\n<key>a</key>\r\n"
	  "<foo/></dict>" XTAIL, 0, "line 6: unknown element <foo>" },
	{ "element in string", XHEAD "<dict><key>a</key><string><b>x</b>"
	  "</string></dict>" XTAIL, 0, "unknown element <b>" },
	{ "integer text", XHEAD "<dict><key>a</key><integer>abc</integer>"
	  "</dict>" XTAIL, 0, "line 4: <integer> holds \"abc\"" },
	{ "integer overflow", XHEAD "<dict><key>a</key><integer>"
	  "18446744073709551616</integer></dict>" XTAIL, 0,
	  "<integer> holds \"18446744073709551616\"" },
	{ "integer hex", XHEAD "<dict><key>a</key><integer>0x10</integer>"
	  "</dict>" XTAIL, 0, "<integer> holds \"0x10\"" },
	{ "integer empty", XHEAD "<dict><key>a</key><integer/></dict>" XTAIL,
	  0, "empty <integer/>" },
	{ "real text", XHEAD "<dict><key>a</key><real>1.2.3</real></dict>"
	  XTAIL, 0, "<real> holds \"1.2.3\"" },
	{ "date text", XHEAD "<dict><key>a</key><date>tomorrow</date></dict>"
	  XTAIL, 0, "<date> holds \"tomorrow\"" },
	{ "data text", XHEAD "<dict><key>a</key><data>!!!</data></dict>"
	  XTAIL, 0, "<data> is not base64" },
	{ "date that does not exist", XHEAD "<dict><key>a</key><date>"
	  "2030-02-31T00:00:00Z</date></dict>" XTAIL, 0,
	  "<date> holds \"2030-02-31T00:00:00Z\"" },
	{ "date in year 0", XHEAD "<dict><key>a</key><date>"
	  "0000-01-01T00:00:00Z</date></dict>" XTAIL, 0, "<date> holds" },
	{ "date in year 999", XHEAD "<dict><key>a</key><date>"
	  "0999-06-01T00:00:00Z</date></dict>" XTAIL, 0, "<date> holds" },
	{ "date 29 February 2100", XHEAD "<dict><key>a</key><date>"
	  "2100-02-29T00:00:00Z</date></dict>" XTAIL, 0, "<date> holds" },
	{ "date at 24:00", XHEAD "<dict><key>a</key><date>"
	  "2030-01-01T24:00:00Z</date></dict>" XTAIL, 0, "<date> holds" },
	{ "data not in groups of four", XHEAD "<dict><key>a</key><data>QQ"
	  "</data></dict>" XTAIL, 0, "<data> is not base64" },
	{ "data with = inside", XHEAD "<dict><key>a</key><data>QUJD=RA=="
	  "</data></dict>" XTAIL, 0, "<data> is not base64" },
	{ "data with three =", XHEAD "<dict><key>a</key><data>Q==="
	  "</data></dict>" XTAIL, 0, "<data> is not base64" },
	{ "U+FFFE", XHEAD "<dict><key>a</key><string>\xef\xbf\xbe</string>"
	  "</dict>" XTAIL, 0, "t.plist: line 4: U+FFFE or U+FFFF" },
	{ "U+FFFF", XHEAD "<dict><key>a</key><string>\xef\xbf\xbf</string>"
	  "</dict>" XTAIL, 0, "t.plist: line 4: U+FFFE or U+FFFF" },
	{ "data comment", XHEAD "<dict><key>a</key><data><!-- x -->AAAA"
	  "</data></dict>" XTAIL, 0, "markup inside <data>" },
	{ "true text", XHEAD "<dict><key>a</key><true>no</true></dict>"
	  XTAIL, 0, "<true> holds \"no\"" },
	{ "internal subset", "<?xml version=\"1.0\"?><!DOCTYPE plist ["
	  "<!ENTITY a \"b\">]><plist><dict/></plist>", 0,
	  "DTD internal subset not allowed" },
	{ "unknown entity", XHEAD "<dict><key>a</key><string>&a;</string>"
	  "</dict>" XTAIL, 0, "unknown entity reference" },
	{ "nul entity", XHEAD "<dict><key>a</key><string>&#0;</string>"
	  "</dict>" XTAIL, 0, "unknown entity reference" },
	{ "control char", XHEAD "<dict><key>a</key><string>\x01</string>"
	  "</dict>" XTAIL, 0, "t.plist: line 4: control character" },
	{ "bad utf8", XHEAD "<dict><key>a</key><string>\xc3\x28</string>"
	  "</dict>" XTAIL, 0, "t.plist: line 4: invalid UTF-8" },
	{ "unterminated comment", XHEAD "<!-- x", 0, "unterminated comment" },
	/* the scan must end skipped text where libplist does */
	{ "pi ends at ?>", "<?><array><array></array></array>?>"
	  "<plist><dict/></plist>", 0,
	  "line 1: expected <plist>, found <array>" },
	{ "pi quotes", "<?xml version=\"?>\"?><array/><plist><dict/></plist>",
	  0, "line 1: expected <plist>, found <array>" },
	{ "doctype single quote", "<!DOCTYPE plist '><array><array/></array>"
	  "'><plist><dict/></plist>", 0,
	  "line 1: expected <plist>, found <array>" },
	{ "tag single quote", XHEAD "<dict a='>'><key>a</key><string>x"
	  "</string></dict>" XTAIL, 0, "text outside an element" },
	{ "comment in prolog", "<!-- <plist> --><dict/>", 0,
	  "expected <plist>, found <dict>" },
	{ "cdata outside string", XHEAD "<dict><![CDATA[x]]></dict>" XTAIL, 0,
	  "CDATA outside a string" },
};

static void
test_bad_templates(void)
{
	struct pf_template *t;
	struct warns w;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = NULL;
		{
			struct pf_error *err = load(&t, bad[i].xml,
			    bad[i].force, &w);

			if (err == NULL || strstr(err->msg, bad[i].want) == NULL ||
			    err->code != PF_EX_DATAERR) {
				fprintf(stderr, "bad[%zu] %s: got %s\n  want "
				    "%s\n", i, bad[i].name, err != NULL ?
				    err->msg : "success", bad[i].want);
				t_fail = 1;
			}
			pf_error_free(err);
		}
		T_CHECK(t == NULL);
		pf_template_free(t);
	}
}

/* Templates that load, with the warnings they must give. */
static const struct {
	const char *name;
	const char *xml;
	int force;
	int nwarn;
	const char *want;
} good[] = {
	{ "minimal", PROFILE(SCEP("")), 0, 0, NULL },
	{ "leap day, base64 over lines", PROFILE(SCEP(
	  "<key>CAFingerprint</key><data>\n  AAEC\n  Aw==\n</data>")),
	  0, 0, NULL },
	{ "removal date on a leap day", PROFILE_X(TOP_TYPE TOP_ID
	  "<key>RemovalDate</key><date>2028-02-29T23:59:59Z</date>",
	  SCEP("")), 0, 0, NULL },
	{ "bare plist", "<plist><dict>" TOP_TYPE TOP_ID
	  "<key>PayloadContent</key><array>" SCEP("") "</array></dict>"
	  "</plist>", 0, 0, NULL },
	{ "bom comments pi", "\xef\xbb\xbf" XHEAD "<!-- c --><dict>" TOP_TYPE
	  "<!-- c -->" TOP_ID "<key>PayloadContent</key><array>" SCEP("")
	  "</array></dict>" XTAIL "<!-- end -->\n", 0, 0, NULL },
	{ "unknown top key", PROFILE_X(TOP_TYPE TOP_ID KS("Foo", "x"),
	  SCEP("")), 0, 1, "t.plist: Foo: unknown key" },
	{ "unknown scep key", PROFILE(SCEP(KS("Colour", "blue"))), 0, 1,
	  "t.plist: PayloadContent[0].PayloadContent.Colour: unknown key" },
	{ "unknown scep payload key", PROFILE(
	  "<dict>" PAYKEYS("com.apple.security.scep", "a", "{{uuid:a}}")
	  KS("Extra", "x") "<key>PayloadContent</key><dict>" SCEP_OK
	  "</dict></dict>"), 0, 1, "PayloadContent[0].Extra: unknown key" },
	{ "unknown payload type", PROFILE(SCEP("") OTHER(KS("Anything", "x")
	  KI("Number", "5"))), 0, 0, NULL },
	{ "no challenge", PROFILE(SCEPX(SCEP_URL)), 0, 1,
	  "PayloadContent[0].PayloadContent: no Challenge" },
	{ "literal challenge forced", PROFILE(SCEPX(SCEP_URL
	  KS("Challenge", "secret"))), 1, 1,
	  "PayloadContent[0].PayloadContent.Challenge: literal challenge" },
	{ "keysize forced", PROFILE(SCEP(KI("Keysize", "0"))), 1, 1,
	  "Keysize: 0 is not one of 1024, 2048, 4096" },
	{ "column case", PROFILE(SCEP(KS("Name", "{{Challenge}}"))), 0, 1,
	  "\"{{Challenge}}\" is a CSV column; did you mean \"{{challenge}}\"?" },
	{ "rdn type", PROFILE(SCEP("<key>Subject</key><array><array>"
	  PAIR("Title", "x") "</array></array>")), 0, 1,
	  "Subject[0][0][0]: \"Title\" is neither C, L, ST, O, OU, CN nor a "
	  "dotted OID" },
	{ "wifi eap-tls without identity", PROFILE(WIFI(KS("SSID_STR", "x")
	  EAP_TLS)), 0, 1,
	  "PayloadContent[0]: EAP-TLS without PayloadCertificateUUID" },
	{ "passpoint", PROFILE(WIFI(KS("DomainName", "example.com")
	  "<key>IsHotspot</key><true/>")), 0, 0, NULL },
	{ "int and bool placeholders", PROFILE(SCEP(
	  KS("Keysize", "{{int:ks}}") KS("Retries", "{{int:r}}")
	  KS("KeyIsExtractable", "{{bool:x}}"))), 0, 0, NULL },
	{ "placeholder enum", PROFILE(WIFI(KS("SSID_STR", "{{ssid}}")
	  KS("EncryptionType", "{{enc}}"))), 0, 0, NULL },
	{ "odd text", PROFILE(SCEP(KS("Name", "}} { } {x} &lt;&#x4E2D;"
	  "<![CDATA[<&>]]>"))), 0, 0, NULL },
	{ "vendor config is open", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod", "None"))
	  "<key>VendorConfig</key><dict>" KS("Whatever", "x") "</dict>")), 0, 0,
	  NULL },
	{ "ikev2 certtype without xauth", PROFILE(SCEP("") VPN(KS("VPNType",
	  "IKEv2") KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod",
	  "Certificate") KS("PayloadCertificateUUID", "{{uuid:scep}}")
	  KS("CertificateType", "ECDSA256") KI("ExtendedAuthEnabled", "0")))),
	  0, 0, NULL },
	{ "acme", PROFILE(ACME(ACME_OK("ECSECPrimeRandom", "384", "true")
	  "<key>SubjectAltName</key><dict>" KS("rfc822Name", "{{email}}")
	  "</dict>" KI("UsageFlags", "1"))), 0, 0, NULL },
	{ "acme rsa", PROFILE(ACME(ACME_OK("RSA", "2048", "false"))), 0, 0,
	  NULL },
	{ "identifier from a column", "<plist><dict>" TOP_TYPE
	  KS("PayloadIdentifier", "com.example.{{department}}.{{user}}")
	  KS("PayloadUUID", "{{uuid:top}}")
	  "<key>PayloadContent</key><array>" SCEP("") "</array></dict></plist>",
	  0, 1, "PayloadIdentifier: a column changes the identifier" },
	{ "identity from acme", PROFILE(ACME(ACME_OK("ECSECPrimeRandom", "256",
	  "false")) WIFI(KS("SSID_STR", "n") KS("PayloadCertificateUUID",
	  "{{uuid:acme}}"))), 0, 0, NULL },
	{ "ikev2 cert without uuid", PROFILE(VPN(KS("VPNType", "IKEv2")
	  KS("UserDefinedName", "v") IKEV2(KS("AuthenticationMethod",
	  "Certificate")))), 0, 1,
	  "PayloadContent[0].IKEv2: AuthenticationMethod Certificate without "
	  "PayloadCertificateUUID" },
};

static void
test_good_templates(void)
{
	struct pf_template *t;
	struct warns w;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = NULL;
		{
			struct pf_error *err = load(&t, good[i].xml,
			    good[i].force, &w);

			if (err != NULL) {
				fprintf(stderr, "good[%zu] %s: %s\n", i,
				    good[i].name, err->msg);
				t_fail = 1;
				pf_error_free(err);
				continue;
			}
		}
		if (w.n != good[i].nwarn || (good[i].want != NULL &&
		    strstr(w.text, good[i].want) == NULL)) {
			fprintf(stderr, "good[%zu] %s: %d warnings, want %d "
			    "(%s):\n%s", i, good[i].name, w.n, good[i].nwarn,
			    good[i].want != NULL ? good[i].want : "", w.text);
			t_fail = 1;
		}
		pf_template_free(t);
	}
}

static void
test_accessors(void)
{
	struct pf_template *t = NULL;
	static const char xml[] = PROFILE_X(TOP_TYPE
	    KS("PayloadIdentifier", "com.example.{{user}}.{{dept}}")
	    KS("PayloadUUID", "{{uuid:top}}")
	    KS("PayloadDisplayName", "For {{name}}"),
	    SCEP("<key>Subject</key><array><array>" PAIR("CN", "{{name}}")
	    "</array></array>" KS("Retries", "{{int:retries}}")
	    "<key>SubjectAltName</key><dict>" KS("rfc822Name", "{{email}}")
	    "</dict>")
	    OTHER(KS("Note", "{{name}} {{template}} {{run}}")));

	T_OK(load(&t, xml, 0, NULL));
	T_CHECK(pf_template_ncolumns(t) == 4);
	T_CHECK(strcmp(pf_template_column(t, 0), "dept") == 0);
	T_CHECK(strcmp(pf_template_column(t, 1), "name") == 0);
	T_CHECK(strcmp(pf_template_column(t, 2), "retries") == 0);
	T_CHECK(strcmp(pf_template_column(t, 3), "email") == 0);
	T_CHECK(pf_template_column(t, 4) == NULL);
	T_CHECK(pf_template_has_challenge(t));
	T_CHECK(strcmp(pf_template_identifier(t),
	    "com.example.{{user}}.{{dept}}") == 0);
	T_CHECK(strcmp(pf_template_display_name(t), "For {{name}}") == 0);
	T_CHECK(pf_template_npayloads(t) == 2);
	T_CHECK(strcmp(pf_template_payload_type(t, 0),
	    "com.apple.security.scep") == 0);
	T_CHECK(strcmp(pf_template_payload_type(t, 1),
	    "com.example.other") == 0);
	T_CHECK(pf_template_payload_type(t, 2) == NULL);
	pf_template_free(t);

	/* no display name, no challenge */
	t = NULL;
	T_OK(load(&t, PROFILE(OTHER("")), 0, NULL));
	T_CHECK(pf_template_display_name(t) == NULL);
	T_CHECK(!pf_template_has_challenge(t));
	pf_template_free(t);
	pf_template_free(NULL);
}

/* Nesting: 32 levels of dict/array load, 33 do not; a hostile depth is
 * refused before libplist's recursive parser sees it. */
static char *
append(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n + 1);
	return p + n;
}

static char *
nested(int levels)
{
	static const char head[] = XHEAD "<dict>" TOP_TYPE TOP_ID
	    "<key>PayloadContent</key><array><dict>" PAYKEYS("x", "a", "b")
	    "<key>Deep</key>";
	static const char tail[] = "</dict></array></dict>" XTAIL;
	size_t n = sizeof(head) + sizeof(tail) + (size_t)levels * 15 + 32;
	char *s = malloc(n), *p;
	int i;

	if (s == NULL)
		return NULL;
	p = append(s, head);
	/* root dict, PayloadContent array and the payload dict are 3 */
	for (i = 3; i < levels; i++)
		p = append(p, "<array>");
	p = append(p, "<string>x</string>");
	for (i = 3; i < levels; i++)
		p = append(p, "</array>");
	append(p, tail);
	return s;
}

static void
test_limits(void)
{
	struct pf_template *t = NULL;
	char *xml, *big;
	size_t i, n;

	xml = nested(PF_TEMPLATE_MAX_DEPTH);
	T_REQUIRE(xml != NULL);
	T_OK(load(&t, xml, 0, NULL));
	pf_template_free(t);
	free(xml);

	t = NULL;
	xml = nested(PF_TEMPLATE_MAX_DEPTH + 1);
	T_REQUIRE(xml != NULL);
	T_ERR(load(&t, xml, 0, NULL), PF_EX_DATAERR,
	    "t.plist: line 4: nested deeper than 32 levels");
	free(xml);

	/* 60 000 levels, within the size limit */
	xml = nested(60000);
	T_REQUIRE(xml != NULL);
	T_ERR(load(&t, xml, 0, NULL), PF_EX_DATAERR,
	    "nested deeper than 32 levels");
	free(xml);

	/* 2 MiB: refused before anything looks at it */
	n = 2 * 1024 * 1024;
	big = malloc(n + 1);
	T_REQUIRE(big != NULL);
	n = (size_t)(append(big, XHEAD "<dict><key>a</key><string>") - big);
	for (i = n; i < 2 * 1024 * 1024 - 40; i++)
		big[i] = 'x';
	append(big + i, "</string></dict></plist>");
	T_ERR(pf_template_load(&t, "big.plist", big, strlen(big), 1, NULL),
	    PF_EX_DATAERR, "big.plist: 2097136 bytes; a template may have "
	    "at most 1048576");
	T_ERR(pf_template_load(&t, "big.plist", big, PF_TEMPLATE_MAX_BYTES + 1,
	    1, NULL), PF_EX_DATAERR, "a template may have at most 1048576");
	free(big);
	T_CHECK(t == NULL);
}

static char *
many_payloads(int n)
{
	char *xml, *p;
	int i;

	if ((xml = malloc((size_t)n * 300 + 4096)) == NULL)
		return NULL;
	p = append(xml, XHEAD "<dict>" TOP_TYPE TOP_ID
	    "<key>PayloadContent</key><array>");
	for (i = 0; i < n; i++)
		p += snprintf(p, 300, "<dict>" PAYKEYS("x", "com.example.%d",
		    "{{uuid:p%d}}") "<key>Sub</key><dict/></dict>", i, i);
	append(p, "</array></dict>" XTAIL);
	return xml;
}

/* A thousand payloads are fine (the scan's bookkeeping grows); more are
 * refused, which bounds the pairwise uniqueness checks. */
static void
test_many_payloads(void)
{
	struct pf_template *t = NULL;
	char *xml;

	xml = many_payloads(1000);
	T_REQUIRE(xml != NULL);
	T_OK(load(&t, xml, 0, NULL));
	T_CHECK(pf_template_npayloads(t) == 1000);
	pf_template_free(t);
	free(xml);

	t = NULL;
	xml = many_payloads(1001);
	T_REQUIRE(xml != NULL);
	T_ERR(load(&t, xml, 0, NULL), PF_EX_DATAERR,
	    "t.plist: PayloadContent: expected at most 1000 items, found 1001");
	free(xml);
}

int
main(void)
{
	T_RUN(test_example_templates);
	T_RUN(test_seed);
	T_RUN(test_bad_templates);
	T_RUN(test_good_templates);
	T_RUN(test_accessors);
	T_RUN(test_limits);
	T_RUN(test_many_payloads);
	T_DONE();
}
