/*
 * mail and mime: address checks, header encoding and folding, injection
 * attempts, quoted-printable and base64 line rules, the placeholder texts.
 * Encoded-words are decoded here with OpenSSL's base64 decoder, not with
 * the code under test; tests/e2e/t_mail.sh parses whole messages with
 * Python's email package.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "mail.h"
#include "mime.h"
#include "util.h"
#include "t.h"

/* Every line of s (CRLF-separated) is at most max bytes, none holds a
 * bare CR or LF, and s ends with CRLF. */
static int
lines_ok(const char *s, size_t n, size_t max)
{
	size_t i, col = 0;

	if (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
		} else if (s[i] == '\n')
			return 0;
		else if (++col > max)
			return 0;
	}
	return 1;
}

/* One header field: the first line starts with "Field:", every further
 * line with a space (a fold, never a new field). */
static int
one_field(const char *s, const char *field)
{
	const char *p;

	if (strncmp(s, field, strlen(field)) != 0 ||
	    s[strlen(field)] != ':')
		return 0;
	for (p = s; (p = strstr(p, "\r\n")) != NULL; p += 2)
		if (p[2] != '\0' && p[2] != ' ')
			return 0;
	return 1;
}

/*
 * The text of an unstructured header as a reader gets it: unfolded, and
 * =?UTF-8?B?...?= words decoded (white space between two of them
 * dropped, RFC 2047 6.2).  Returns a malloc'd string.
 */
static char *
decode_header(const char *s)
{
	char *out = calloc(1, strlen(s) * 2 + 1), *o = out;
	const char *p = strchr(s, ':') + 1;
	int prev_ew = 0;

	if (*p == ' ')
		p++;
	while (*p != '\0') {
		if (p[0] == '\r' && p[1] == '\n') {
			p += 2;
			continue;
		}
		if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
			const char *e = strstr(p + 10, "?=");
			unsigned char buf[256];
			int n, pad = 0;

			if (prev_ew)
				while (o > out && o[-1] == ' ')
					o--;
			n = EVP_DecodeBlock(buf, (const unsigned char *)p + 10,
			    (int)(e - p - 10));
			if (e - p - 10 >= 2 && e[-1] == '=')
				pad = e[-2] == '=' ? 2 : 1;
			memcpy(o, buf, (size_t)(n - pad));
			o += n - pad;
			p = e + 2;
			prev_ew = 1;
			continue;
		}
		if (*p != ' ')
			prev_ew = 0;
		*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static void
test_addr(void)
{
	static const char *const good[] = {
		"ana@example.com", "a.b+tag@sub.example.co.uk",
		"o'neil@example.com", "x@a-b.example", "{}|~!#$%&*=?^_`@x.io",
		"1@2.3",
	};
	static const char *const bad[] = {
		"", "ana", "@example.com", "ana@", "ana@example",
		"ana@@example.com", "a@b@example.com", ".ana@example.com",
		"ana.@example.com", "a..b@example.com", "ana@-x.example.com",
		"ana@x-.example.com", "ana@example..com", "ana@.example.com",
		"ana@example.com.", "ana @example.com", "ana@exa mple.com",
		"\"ana\"@example.com", "ana@[127.0.0.1]", "chlo\xc3\xa9@example.com",
		"ana@ex\xc3\xa4mple.com", "ana@example.com\r\nBcc: x@y.z",
		"ana@example.com\n", "a\tb@example.com", "<ana@example.com>",
		"ana@example.com, bo@example.com",
	};
	char big[300];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!pf_mime_addr_ok(good[i])) {
			fprintf(stderr, "refused %s\n", good[i]);
			t_fail = 1;
		}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pf_mime_addr_ok(bad[i])) {
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
			t_fail = 1;
		}
	/* 64 bytes of local part pass, 65 do not; 254 bytes in all. */
	memset(big, 'a', 64);
	strcpy(big + 64, "@example.com");
	T_CHECK(pf_mime_addr_ok(big));
	memset(big, 'a', 65);
	strcpy(big + 65, "@example.com");
	T_CHECK(!pf_mime_addr_ok(big));
	memset(big, 'a', sizeof(big));
	big[0] = 'x';
	big[1] = '@';
	for (i = 2; i < 250; i += 50)
		big[i + 49] = '.';
	big[255] = '\0';
	T_CHECK(!pf_mime_addr_ok(big));
}

static void
test_mailbox_split(void)
{
	static const struct {
		const char *in, *name, *addr;
		int ok;
	} cases[] = {
		{ "it@example.com", NULL, "it@example.com", 1 },
		{ "  it@example.com ", NULL, "it@example.com", 1 },
		{ "IT Desk <it@example.com>", "IT Desk", "it@example.com", 1 },
		{ "<it@example.com>", NULL, "it@example.com", 1 },
		{ "\"Desk, IT \\\"B\\\"\" <it@example.com>",
		    "Desk, IT \"B\"", "it@example.com", 1 },
		{ "Støtte <it@example.com>", "Støtte", "it@example.com", 1 },
		{ "IT <it@example.com", NULL, NULL, 0 },
		{ "IT it@example.com>", NULL, NULL, 0 },
		{ "\"IT <it@example.com>", NULL, NULL, 0 },
	};
	struct pf_error *err;
	char *name, *addr;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = pf_mime_mailbox_split(cases[i].in, &name, &addr);
		if (!cases[i].ok) {
			T_CHECK(err != NULL && err->code == PF_EX_USAGE);
			pf_error_free(err);
			continue;
		}
		T_REQUIRE(err == NULL);
		T_CHECK(strcmp(addr, cases[i].addr) == 0);
		T_CHECK(cases[i].name == NULL ? name == NULL :
		    name != NULL && strcmp(name, cases[i].name) == 0);
		free(name);
		free(addr);
	}
}

/* Subjects: what a reader decodes is the text with its controls made
 * spaces, and no line break makes a new field. */
static void
test_subject(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "Your configuration profile", "Your configuration profile" },
		{ "Profil für Ana Åström", "Profil für Ana Åström" },
		{ "x\r\nBcc: victim@example.com", "x Bcc: victim@example.com" },
		{ "many   spaces\r\n\r\n\r\n\u00e9t\u00e9  too",
		  "many spaces \u00e9t\u00e9 too" },
		{ "x\nTo: a@b.c\rCc: d@e.f", "x To: a@b.c Cc: d@e.f" },
		{ "tab\there\x01\x7f", "tab here" },
		{ "\xc2\x85next line", "next line" },
		{ "=?UTF-8?B?SGk=?= literal", "=?UTF-8?B?SGk=?= literal" },
		{ "  padded  ", "padded" },
		{ "bad \xff byte", "bad \xef\xbf\xbd byte" },
		{ "", "" },
		{ "山田 陽翔さん、プロファイルをお送りします。山田 陽翔さん、"
		  "プロファイルをお送りします。山田 陽翔さん、プロファイルを"
		  "お送りします。",
		  "山田 陽翔さん、プロファイルをお送りします。山田 陽翔さん、"
		  "プロファイルをお送りします。山田 陽翔さん、プロファイルを"
		  "お送りします。" },
		{ "A long plain ASCII subject that goes on and on for well over "
		  "seventy-eight characters, so that it has to be folded",
		  "A long plain ASCII subject that goes on and on for well over "
		  "seventy-eight characters, so that it has to be folded" },
		{ "Emoji \xf0\x9f\x93\xb1\xf0\x9f\x94\x90 and more emoji "
		  "\xf0\x9f\x93\xb1\xf0\x9f\x94\x90\xf0\x9f\x93\xb1\xf0\x9f\x94"
		  "\x90\xf0\x9f\x93\xb1\xf0\x9f\x94\x90\xf0\x9f\x93\xb1",
		  "Emoji \xf0\x9f\x93\xb1\xf0\x9f\x94\x90 and more emoji "
		  "\xf0\x9f\x93\xb1\xf0\x9f\x94\x90\xf0\x9f\x93\xb1\xf0\x9f\x94"
		  "\x90\xf0\x9f\x93\xb1\xf0\x9f\x94\x90\xf0\x9f\x93\xb1" },
	};
	struct pf_buf b = { 0 };
	char *got;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pf_buf_reset(&b);
		T_OK(pf_mime_header_text(&b, "Subject", cases[i].in));
		T_CHECK(lines_ok(b.data, b.len, 78));
		T_CHECK(one_field(b.data, "Subject"));
		got = decode_header(b.data);
		/* The decoder above leaves the final CRLF out. */
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "case %zu: got \"%s\" from:\n%s", i,
			    got, b.data);
			t_fail = 1;
		}
		/* Encoded-words: lines of at most 76, words of 75. */
		if (strstr(b.data, "=?UTF-8?B?") != NULL &&
		    strstr(cases[i].in, "=?") == NULL)
			T_CHECK(lines_ok(b.data, b.len, 76));
		free(got);
	}
	pf_buf_free(&b);
}

static void
test_mailbox_header(void)
{
	static const struct {
		const char *name, *want;
	} cases[] = {
		{ NULL, "To: ana@example.com\r\n" },
		{ "", "To: ana@example.com\r\n" },
		{ "Ana Lima", "To: Ana Lima <ana@example.com>\r\n" },
		{ "Eve \"<script>\" O'Neil, & Sons",
		    "To: \"Eve \\\"<script>\\\" O'Neil, & Sons\" "
		    "<ana@example.com>\r\n" },
		{ "Evil\r\nBcc: victim@example.com",
		    "To: \"Evil  Bcc: victim@example.com\" "
		    "<ana@example.com>\r\n" },
		{ "Åsa", "To: =?UTF-8?B?w4VzYQ==?= <ana@example.com>\r\n" },
	};
	struct pf_buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pf_buf_reset(&b);
		T_OK(pf_mime_header_mailbox(&b, "To", cases[i].name,
		    "ana@example.com"));
		if (strcmp(b.data, cases[i].want) != 0) {
			fprintf(stderr, "case %zu: got %s", i, b.data);
			t_fail = 1;
		}
	}
	/* A long non-ASCII name folds into several encoded-words. */
	pf_buf_reset(&b);
	T_OK(pf_mime_header_mailbox(&b, "To", "Дмитрий Иванович Иванов-"
	    "Петров-Водкин из Санкт-Петербурга", "dmitri@example.com"));
	T_CHECK(lines_ok(b.data, b.len, 78));
	T_CHECK(one_field(b.data, "To"));
	T_CHECK(strstr(b.data, "\r\n ") != NULL);
	pf_buf_free(&b);
}

static void
test_qp(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "plain\r\n" },
		{ "a\nb\r\nc\rd\n", "a\r\nb\r\nc\r\nd\r\n" },
		{ "trailing space \nx", "trailing space=20\r\nx\r\n" },
		{ "tab\t", "tab=09\r\n" },
		{ ".\n..x", "=2E\r\n=2E.x\r\n" },
		{ "From me\nnot From here", "=46rom me\r\nnot From here\r\n" },
		{ "a=b é", "a=3Db =C3=A9\r\n" },
		{ "", "\r\n" },
	};
	struct pf_buf b = { 0 };
	char longline[400];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pf_buf_reset(&b);
		T_OK(pf_mime_qp(&b, cases[i].in, strlen(cases[i].in)));
		if (b.data == NULL || strcmp(b.data, cases[i].want) != 0) {
			fprintf(stderr, "case %zu: got \"%s\"\n", i,
			    b.data ? b.data : "(null)");
			t_fail = 1;
		}
	}
	/* Long lines get soft breaks; no line passes 76. */
	for (i = 0; i < sizeof(longline) - 1; i++)
		longline[i] = i % 7 == 0 ? '=' : i % 5 == 0 ? ' ' : 'x';
	longline[sizeof(longline) - 1] = '\0';
	pf_buf_reset(&b);
	T_OK(pf_mime_qp(&b, longline, strlen(longline)));
	T_CHECK(lines_ok(b.data, b.len, 76));
	T_CHECK(strstr(b.data, "=\r\n") != NULL);
	pf_buf_free(&b);
}

static void
test_base64(void)
{
	unsigned char data[1000], back[1000];
	struct pf_buf b = { 0 }, joined = { 0 };
	size_t i;
	int n;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	T_OK(pf_mime_base64(&b, data, sizeof(data)));
	T_CHECK(lines_ok(b.data, b.len, 76));
	/* Full lines are exactly 76. */
	T_CHECK(strstr(b.data, "\r\n") - b.data == 76);
	for (i = 0; i < b.len; i++)
		if (b.data[i] != '\r' && b.data[i] != '\n')
			T_OK(pf_buf_add(&joined, b.data + i, 1));
	n = EVP_DecodeBlock(back, (unsigned char *)joined.data,
	    (int)joined.len);
	T_CHECK(n >= (int)sizeof(data));
	T_CHECK(memcmp(back, data, sizeof(data)) == 0);
	pf_buf_free(&b);
	pf_buf_free(&joined);
}

static const char *
col(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "name") == 0)
		return "Ana {{user}} Lima";
	if (strcmp(name, "dept") == 0)
		return "R&D";
	return NULL;
}

static struct pf_error *
known(void *arg, const char *column, int *ok)
{
	(void)arg;
	*ok = strcmp(column, "name") == 0 || strcmp(column, "dept") == 0 ||
	    strcmp(column, "empty") == 0;
	return NULL;
}

static void
test_mailtext(void)
{
	static const struct {
		const char *text, *err;		/* err NULL: parses */
	} cases[] = {
		{ "Dear {{name}}", NULL },
		{ "no placeholders", NULL },
		{ "a\nb\n{{challenge}}", "body.txt:3: unknown placeholder "
		    "\"{{challenge}}\"" },
		{ "{{uuid:x}}", "body.txt:1: unknown placeholder \"{{uuid:x}}\"" },
		{ "{{int:n}}", "unknown placeholder \"{{int:n}}\"" },
		{ "x\n{{name", "body.txt:2: \"{{\" without a closing \"}}\"" },
		{ "{{}}", "empty placeholder" },
		{ "{{a{b}}", "malformed placeholder" },
		{ "bad \xff", "body.txt: not UTF-8 text" },
	};
	struct pf_mailtext *t = NULL;
	struct pf_mailvars v;
	struct pf_error *err;
	struct pf_buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = pf_mailtext_parse(&t, "body.txt", cases[i].text,
		    strlen(cases[i].text), PF_EX_DATAERR, 1);
		if (cases[i].err == NULL) {
			T_CHECK(err == NULL);
			pf_error_free(err);
			pf_mailtext_free(t);
			continue;
		}
		if (err == NULL || err->code != PF_EX_DATAERR ||
		    strstr(err->msg, cases[i].err) == NULL) {
			fprintf(stderr, "case %zu: got %s\n", i,
			    err ? err->msg : "no error");
			t_fail = 1;
		}
		pf_error_free(err);
	}

	/* Filled once: a value holding "{{user}}" stays as it is; an
	 * unknown column is an error naming the file and line. */
	T_OK(pf_mailtext_parse(&t, "body.txt", "\xef\xbb\xbfHi {{name}} "
	    "({{dept}}), {{user}}/{{template}}/{{run}}{{empty}}.\n{{nope}}",
	    strlen("\xef\xbb\xbfHi {{name}} ({{dept}}), {{user}}/{{template}}/"
	    "{{run}}{{empty}}.\n{{nope}}"), PF_EX_DATAERR, 1));
	memset(&v, 0, sizeof(v));
	v.user = "ana@example.com";
	v.tmpl = "scep";
	v.run = "20261122-010203";
	v.column = col;
	T_OK(pf_mailtext_fill(t, &v, &b));
	T_CHECK(strcmp(b.data, "Hi Ana {{user}} Lima (R&D), ana@example.com/"
	    "scep/20261122-010203.\n") == 0);
	T_ERR(pf_mailtext_check(t, known, NULL, "no user has it"),
	    PF_EX_DATAERR, "body.txt:2: unknown placeholder \"{{nope}}\" "
	    "(no user has it)");
	pf_mailtext_free(t);
	pf_buf_free(&b);
}

static void
test_build(void)
{
	static const char prof[] = "profile bytes \x00\x01\xff";
	struct pf_mime_msg m;
	struct pf_buf b = { 0 };
	char id1[PF_MIME_MSGID_MAX], id2[PF_MIME_MSGID_MAX], bnd[64];
	const char *p;

	memset(&m, 0, sizeof(m));
	m.from_addr = "it@example.com";
	m.to_name = "Chloé";
	m.to_addr = "chloe@example.com";
	m.subject = "Profil";
	m.text = "--=_pf_ in the text\n";
	m.text_len = strlen(m.text);
	m.attach = prof;
	m.attach_len = sizeof(prof) - 1;
	m.attach_name = "chloé@example.com.wifi.mobileconfig";
	m.attach_type = PF_MAIL_TYPE;
	m.date = 1795310220;
	T_OK(pf_mime_build(&b, &m, id1, sizeof(id1)));
	T_CHECK(lines_ok(b.data, b.len, 78));
	T_CHECK(strncmp(id1, "<", 1) == 0 &&
	    strstr(id1, "@example.com>") != NULL);
	T_CHECK(strstr(b.data, "\r\nMIME-Version: 1.0\r\n") != NULL);
	T_CHECK(strstr(b.data, "filename*=UTF-8''chlo%C3%A9%40example.com."
	    "wifi.mobileconfig;\r\n filename=\"chlo_@example.com.wifi."
	    "mobileconfig\"") != NULL);
	/* The boundary: three times with "--", nowhere else. */
	p = strstr(b.data, "boundary=\"");
	T_REQUIRE(p != NULL);
	snprintf(bnd, sizeof(bnd), "--%.*s", (int)strcspn(p + 10, "\""),
	    p + 10);
	T_CHECK(strstr(b.data, bnd) != NULL);
	T_CHECK(strstr(strstr(strstr(b.data, bnd) + 1, bnd) + 1, bnd) !=
	    NULL);
	T_OK(pf_mime_build(&b, &m, id2, sizeof(id2)));
	T_CHECK(strcmp(id1, id2) != 0);
	pf_buf_free(&b);
}

/* A long non-ASCII file name: RFC 2231 continuations of whole
 * characters, each line within 78; the quoted fallback may be longer. */
static void
test_long_filename(void)
{
	struct pf_mime_msg m;
	struct pf_buf b = { 0 };
	char name[256], id[PF_MIME_MSGID_MAX];
	const char *p, *q;
	size_t i;

	for (i = 0; i + 2 < 120; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	strcpy(name + i, ".scep.mobileconfig");
	memset(&m, 0, sizeof(m));
	m.from_addr = "it@example.com";
	m.to_addr = "x@example.com";
	m.subject = "s";
	m.text = "t";
	m.text_len = 1;
	m.attach = "a";
	m.attach_len = 1;
	m.attach_name = name;
	m.attach_type = PF_MAIL_TYPE;
	T_OK(pf_mime_build(&b, &m, id, sizeof(id)));
	/* Only the quoted ASCII fallbacks may pass 78 (never 998). */
	T_CHECK(lines_ok(b.data, b.len, 998));
	for (p = b.data; (q = strstr(p, "\r\n")) != NULL; p = q + 2)
		if (q - p > 78 && strncmp(p, " name=\"", 7) != 0 &&
		    strncmp(p, " filename=\"", 11) != 0) {
			fprintf(stderr, "long line: %.*s\n", (int)(q - p), p);
			t_fail = 1;
		}
	T_CHECK(strstr(b.data, " filename*0*=UTF-8''%C3%A9") != NULL);
	T_CHECK(strstr(b.data, " filename*1*=%C3%A9") != NULL);
	pf_buf_free(&b);
}

int
main(void)
{
	T_RUN(test_addr);
	T_RUN(test_mailbox_split);
	T_RUN(test_subject);
	T_RUN(test_mailbox_header);
	T_RUN(test_qp);
	T_RUN(test_base64);
	T_RUN(test_mailtext);
	T_RUN(test_build);
	T_RUN(test_long_filename);
	T_DONE();
}
