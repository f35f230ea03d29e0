/*
 * Unit tests for batch/verify.c: the verify-csr decision against a real
 * database filled through the store (as a run would), the bindings of
 * Subject and SubjectAltName values, grace-period retries, expiry,
 * revocation, supersession, the decisions table, and concurrent callers
 * racing for one challenge.
 */
#include <sys/wait.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "challenge.h"
#include "csr.h"
#include "db.h"
#include "mkcsr.h"
#include "store.h"
#include "t.h"
#include "verify.h"

#define NOW	1800000000	/* the decision time of most tests */
#define TTL	(14 * 86400)

static char tdir[PATH_MAX / 2];	/* mkdtemp'd; kept when a test fails */
static char dbpath[PATH_MAX];
static int ndb;			/* databases made so far */
static struct pf_db *db;	/* this test's database */
static long long run_id;
static EVP_PKEY *key1, *key2;	/* P-256, made once */

/* A fresh, migrated database with one run. */
static void
setup(void)
{
	struct pf_run_rec r;
	struct pf_error *err;
	int from, to;

	snprintf(dbpath, sizeof(dbpath), "%s/%d.db", tdir, ++ndb);
	if ((err = pf_db_open(&db, dbpath, PF_DB_CREATE | PF_DB_NOCHECK)) ||
	    (err = pf_db_migrate(db, &from, &to)) != NULL)
		goto fail;
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "run1");
	snprintf(r.kind, sizeof(r.kind), "run");
	r.started_at = NOW - 100;
	r.out_dir = tdir;
	if ((err = pf_store_run_begin(db, &r)) != NULL)
		goto fail;
	run_id = r.id;
	return;
fail:
	fprintf(stderr, "setup: %s\n", err->msg);
	exit(2);
}

static void
teardown(void)
{
	pf_db_close(db);
	db = NULL;
}

static long long
template_id(const char *name)
{
	struct pf_tmpl_rec rec;
	struct pf_error *err;
	long version;
	int added;
	long long id;

	if ((err = pf_store_template_add(db, name, "<plist/>", 8, NULL, 0,
	    &version, &added)) != NULL ||
	    (err = pf_store_template_get(db, name, 0, &rec)) != NULL) {
		fprintf(stderr, "template: %s\n", err->msg);
		exit(2);
	}
	id = rec.id;
	pf_tmpl_rec_clear(&rec);
	return id;
}

/*
 * Issue a profile of template tmpl for user, with a fresh challenge
 * (text into ch) and bindings b[0..nb) given as kind, name, value triples.
 * Returns the challenge id.
 */
static long long
issue(const char *user, const char *tmpl, char ch[PF_CHALLENGE_LEN + 1],
    const char *const *b, time_t issued, time_t expires)
{
	struct pf_binding bind[8];
	struct pf_store_writer *w = NULL;
	struct pf_issue is;
	struct pf_error *err;
	uint8_t digest[PF_SHA256_LEN];
	char file[256];
	long long pid, cid = 0;
	size_t nb = 0;
	int reissued;

	for (; b != NULL && b[3 * nb] != NULL && nb < 8; nb++) {
		bind[nb].kind = (char *)b[3 * nb];
		bind[nb].name = (char *)b[3 * nb + 1];
		bind[nb].value = (char *)b[3 * nb + 2];
	}
	static int nfile;

	snprintf(file, sizeof(file), "%s.%s.%d.mobileconfig", user, tmpl,
	    ++nfile);
	memset(&is, 0, sizeof(is));
	is.run_id = run_id;
	is.user = user;
	is.attrs = "{}";
	is.attrs_sha256 = "0";
	is.template_id = template_id(tmpl);
	is.had_current = 1;	/* let the store supersede what it finds */
	is.file = file;
	is.sha256 = "0";
	is.payload_identifier = "com.example";
	is.payload_uuid = "uuid";
	is.digest = digest;
	is.now = issued;
	is.expires = expires;
	is.bindings = bind;
	is.nbindings = nb;
	if ((err = pf_challenge_new(ch, digest)) != NULL ||
	    (err = pf_db_begin(db)) != NULL ||
	    (err = pf_store_writer_new(&w, db, 8192)) != NULL ||
	    (err = pf_store_issue(w, &is, &pid, &cid, &reissued)) != NULL ||
	    (err = pf_db_commit(db)) != NULL) {
		fprintf(stderr, "issue: %s\n", err->msg);
		exit(2);
	}
	pf_store_writer_free(w);
	return cid;
}

/* A parsed request signed by k. */
static struct pf_csr *
req(EVP_PKEY *k, const char *challenge, const char *const *subject,
    const char *san)
{
	struct mkcsr m = { .key = k, .subject = subject, .san = san,
	    .challenge = challenge };

	/* An empty string only as a raw type: OpenSSL will not make an
	 * empty DirectoryString. */
	if (challenge != NULL && challenge[0] == '\0')
		m.chtype = V_ASN1_UTF8STRING;
	struct pf_csr *c = NULL;
	struct pf_error *err;
	unsigned char *der;
	size_t len;

	mkcsr_der(&m, &der, &len);
	if ((err = pf_csr_parse(der, len, &c)) != NULL) {
		fprintf(stderr, "req: %s\n", err->msg);
		exit(2);
	}
	free(der);
	return c;
}

/* Decide on c at time now; frees c. */
static struct pf_error *
decide(struct pf_csr *c, time_t now, long long grace, struct pf_verdict *v)
{
	struct pf_verify_opts o = { .grace = grace, .now = now };
	struct pf_error *err;

	err = pf_verify_csr(db, c, &o, v);
	pf_csr_free(c);
	return err;
}

/* One integer from a query with one optional integer parameter. */
static long long
q(const char *sql, long long arg)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db->h));
		exit(2);
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Run one statement with one integer parameter. */
static void
x(const char *sql, long long arg)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK ||
	    (sqlite3_bind_int64(st, 1, arg), sqlite3_step(st)) != SQLITE_DONE) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db->h));
		exit(2);
	}
	sqlite3_finalize(st);
}

static int
reason_is(const struct pf_verdict *v, const char *want)
{
	if (strcmp(v->reason, want) == 0)
		return 1;
	fprintf(stderr, "reason \"%s\", want \"%s\"\n", v->reason, want);
	return 0;
}

static const char *const subj_ana[] = { "O", "Example", "CN", "Ana Lima",
    NULL };
static const char *const bind_cn[] = { "subject", "CN", "Ana Lima", NULL };

static void
test_first_use_and_retry(void)
{
	struct pf_verdict v;
	char ch[PF_CHALLENGE_LEN + 1], k1[65];
	long long cid;

	setup();
	cid = issue("ana", "scep", ch, bind_cn, NOW - 60, NOW + TTL);
	T_OK(decide(req(key1, ch, subj_ana, NULL), NOW, 3600, &v));
	T_CHECK(v.approved && v.challenge_id == cid && v.decision_id > 0);
	T_CHECK(reason_is(&v, "challenge accepted"));
	mkcsr_key_sha256(key1, k1);
	T_CHECK(strcmp(v.key_sha256, k1) == 0);
	T_CHECK(q("SELECT used_at FROM challenges WHERE id = ?", cid) == NOW);

	/* The client retries the same request: approved again, and the
	 * first use stays the one recorded. */
	T_OK(decide(req(key1, ch, subj_ana, NULL), NOW + 3600, 3600, &v));
	T_CHECK(v.approved);
	T_CHECK(reason_is(&v, "retry by the same key within the grace "
	    "period"));
	T_CHECK(q("SELECT used_at FROM challenges WHERE id = ?", cid) == NOW);

	/* After the grace period, no more. */
	T_OK(decide(req(key1, ch, subj_ana, NULL), NOW + 3601, 3600, &v));
	T_CHECK(!v.approved);
	T_CHECK(reason_is(&v, "challenge already used (grace period over)"));

	/* Another key, even within the grace period. */
	T_OK(decide(req(key2, ch, subj_ana, NULL), NOW + 1, 3600, &v));
	T_CHECK(!v.approved && v.challenge_id == cid);
	T_CHECK(reason_is(&v, "challenge already used"));

	T_CHECK(q("SELECT count(*) FROM decisions", 0) == 4);
	T_CHECK(q("SELECT count(*) FROM decisions WHERE result = 'approved' "
	    "AND challenge_id = ?", cid) == 2);
	T_CHECK(q("SELECT count(*) FROM decisions WHERE key_sha256 IS NULL",
	    0) == 0);
	teardown();
}

static void
test_unknown_and_missing(void)
{
	struct pf_verdict v;
	char ch[PF_CHALLENGE_LEN + 1];

	setup();
	issue("ana", "scep", ch, NULL, NOW - 60, NOW + TTL);
	T_OK(decide(req(key1, "not-a-challenge", subj_ana, NULL), NOW, 3600,
	    &v));
	T_CHECK(!v.approved && v.challenge_id == 0);
	T_CHECK(reason_is(&v, "unknown challenge"));
	T_OK(decide(req(key1, NULL, subj_ana, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "no challenge in request"));
	T_OK(decide(req(key1, "", subj_ana, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "no challenge in request"));
	T_CHECK(q("SELECT count(*) FROM decisions WHERE result = 'refused' "
	    "AND challenge_id IS NULL", 0) == 3);
	T_CHECK(q("SELECT count(*) FROM challenges WHERE used_at IS NOT NULL",
	    0) == 0);
	teardown();
}

static void
test_expired(void)
{
	struct pf_verdict v;
	char ch[PF_CHALLENGE_LEN + 1];

	setup();
	issue("ana", "scep", ch, NULL, NOW - 120, NOW - 60);
	T_OK(decide(req(key1, ch, subj_ana, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge expired"));
	/* One second before expiry it was still good. */
	T_OK(decide(req(key1, ch, subj_ana, NULL), NOW - 61, 3600, &v));
	T_CHECK(v.approved);
	teardown();
}

static void
test_revoke(void)
{
	struct pf_verdict v;
	char a1[PF_CHALLENGE_LEN + 1], a2[PF_CHALLENGE_LEN + 1];
	char b1[PF_CHALLENGE_LEN + 1];
	long long n;

	setup();
	issue("ana", "scep", a1, NULL, NOW - 60, NOW + TTL);
	issue("ana", "wifi", a2, NULL, NOW - 60, NOW + TTL);
	issue("bob", "scep", b1, NULL, NOW - 60, NOW + TTL);
	T_ERR(pf_revoke_user(db, "carol", NULL, NOW, &n), PF_EX_DATAERR,
	    "user \"carol\" not found");
	T_ERR(pf_revoke_user(db, "ana", "nosuch", NOW, &n), PF_EX_DATAERR,
	    "template \"nosuch\" not found");
	T_OK(pf_revoke_user(db, "ana", "wifi", NOW, &n));
	T_CHECK(n == 1);
	T_OK(decide(req(key1, a2, NULL, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge revoked"));
	T_OK(decide(req(key1, a1, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	/* A used challenge is revoked too: no more retries. */
	T_OK(pf_revoke_user(db, "ana", NULL, NOW, &n));
	T_CHECK(n == 1);
	T_OK(decide(req(key1, a1, NULL, NULL), NOW + 1, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge revoked"));
	T_OK(pf_revoke_user(db, "ana", NULL, NOW, &n));
	T_CHECK(n == 0);
	/* Bob is untouched. */
	T_OK(decide(req(key2, b1, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	teardown();
}

static void
test_superseded_and_pruned(void)
{
	struct pf_verdict v;
	char old[PF_CHALLENGE_LEN + 1], cur[PF_CHALLENGE_LEN + 1];
	char b1[PF_CHALLENGE_LEN + 1];
	long long bid;

	setup();
	issue("ana", "scep", old, NULL, NOW - 60, NOW + TTL);
	issue("ana", "scep", cur, NULL, NOW - 30, NOW + TTL);
	bid = issue("bob", "scep", b1, NULL, NOW - 60, NOW + TTL);
	T_OK(decide(req(key1, old, NULL, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge superseded"));
	T_OK(decide(req(key1, cur, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	x("UPDATE challenges SET revoked_at = 1, revoke_reason = 'pruned' "
	    "WHERE id = ?", bid);
	T_OK(decide(req(key2, b1, NULL, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge pruned"));
	teardown();
}

/*
 * A used challenge that a run superseded, or that expired, since: the
 * same key's retry within the grace period is still approved (the device
 * may not have had its certificate); another key's request, a retry after
 * the grace period, and any retry after `revoke` or --prune are refused.
 */
static void
test_retry_after_supersede_or_expiry(void)
{
	struct pf_verdict v;
	char a[PF_CHALLENGE_LEN + 1], b[PF_CHALLENGE_LEN + 1];
	char c[PF_CHALLENGE_LEN + 1], d[PF_CHALLENGE_LEN + 1];
	long long aid, bid, cid, did, n;

	setup();
	aid = issue("ana", "scep", a, NULL, NOW - 60, NOW + TTL);
	bid = issue("bob", "scep", b, NULL, NOW - 60, NOW + 30);
	cid = issue("cy", "scep", c, NULL, NOW - 60, NOW + TTL);
	did = issue("di", "scep", d, NULL, NOW - 60, NOW + TTL);
	T_OK(decide(req(key1, a, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved && v.challenge_id == aid);
	T_OK(decide(req(key1, b, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved && v.challenge_id == bid);
	T_OK(decide(req(key1, c, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved && v.challenge_id == cid);
	T_OK(decide(req(key1, d, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved && v.challenge_id == did);

	/* ana's profile is reissued (a new template version, say) */
	x("UPDATE challenges SET revoked_at = 1, revoke_reason = "
	    "'superseded' WHERE id = ?", aid);
	T_OK(decide(req(key1, a, NULL, NULL), NOW + 60, 3600, &v));
	T_CHECK(v.approved && reason_is(&v, "retry by the same key within "
	    "the grace period"));
	T_OK(decide(req(key2, a, NULL, NULL), NOW + 60, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge superseded"));
	T_OK(decide(req(key1, a, NULL, NULL), NOW + 3601, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge superseded"));

	/* bob's challenge expires 30 s after its use */
	T_OK(decide(req(key1, b, NULL, NULL), NOW + 60, 3600, &v));
	T_CHECK(v.approved && reason_is(&v, "retry by the same key within "
	    "the grace period"));
	T_OK(decide(req(key2, b, NULL, NULL), NOW + 60, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge expired"));
	T_OK(decide(req(key1, b, NULL, NULL), NOW + 3601, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge expired"));

	/* cy revoked, di pruned: no retry */
	T_OK(pf_revoke_user(db, "cy", NULL, NOW + 10, &n));
	T_CHECK(n == 1);
	T_OK(decide(req(key1, c, NULL, NULL), NOW + 60, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge revoked"));
	x("UPDATE challenges SET revoked_at = 1, revoke_reason = 'pruned' "
	    "WHERE id = ?", did);
	T_OK(decide(req(key1, d, NULL, NULL), NOW + 60, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge pruned"));

	/* the first uses stay the ones recorded */
	T_CHECK(q("SELECT count(*) FROM challenges WHERE used_at = ?", NOW) ==
	    4);
	teardown();
}

/*
 * A used challenge superseded by a reissue, then the user revoked or
 * pruned: `revoke` and --prune mark the newest challenge only, and the
 * retry of the old one is refused all the same.
 */
static void
test_no_retry_after_revoke_of_newer(void)
{
	struct pf_verdict v;
	char a1[PF_CHALLENGE_LEN + 1], a2[PF_CHALLENGE_LEN + 1];
	char b1[PF_CHALLENGE_LEN + 1], b2[PF_CHALLENGE_LEN + 1];
	char w1[PF_CHALLENGE_LEN + 1];
	long long b2id, n;

	setup();
	issue("ana", "scep", a1, NULL, NOW - 60, NOW + TTL);
	issue("ana", "wifi", w1, NULL, NOW - 60, NOW + TTL);
	issue("bob", "scep", b1, NULL, NOW - 60, NOW + TTL);
	T_OK(decide(req(key1, a1, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	T_OK(decide(req(key1, w1, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	T_OK(decide(req(key2, b1, NULL, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	/* reissued: a1 and b1 superseded */
	issue("ana", "scep", a2, NULL, NOW + 10, NOW + TTL);
	b2id = issue("bob", "scep", b2, NULL, NOW + 10, NOW + TTL);
	T_OK(decide(req(key1, a1, NULL, NULL), NOW + 20, 3600, &v));
	T_CHECK(v.approved && reason_is(&v, "retry by the same key within "
	    "the grace period"));

	/* ana revoked (her scep template), bob pruned */
	T_OK(pf_revoke_user(db, "ana", "scep", NOW + 30, &n));
	T_CHECK(n == 1);
	/* her used, superseded a1 is marked revoked too */
	T_CHECK(q("SELECT count(*) FROM challenges WHERE revoke_reason = "
	    "'revoked'", 0) == 2);
	x("UPDATE challenges SET revoked_at = 1, revoke_reason = 'pruned' "
	    "WHERE id = ?", b2id);
	T_OK(decide(req(key1, a1, NULL, NULL), NOW + 40, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge revoked"));
	T_OK(decide(req(key2, b1, NULL, NULL), NOW + 40, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "challenge pruned"));
	/* her wifi profile, not revoked, still gets its retry */
	T_OK(decide(req(key1, w1, NULL, NULL), NOW + 40, 3600, &v));
	T_CHECK(v.approved);
	teardown();
}

static void
test_subject_bindings(void)
{
	static const char *const binds[] = {
		"subject", "CN", "Ana Lima",
		"subject", "2.5.4.11", "Sales",
		"subject", "E", "ana@example.com",
		NULL
	};
	static const char *const good[] = { "O", "Example", "OU", "Sales",
	    "CN", "Ana Lima", "emailAddress", "ana@example.com", "L", "x",
	    NULL };
	static const char *const wrong_cn[] = { "OU", "Sales", "CN", "Bob",
	    "emailAddress", "ana@example.com", NULL };
	static const char *const no_ou[] = { "CN", "Ana Lima",
	    "emailAddress", "ana@example.com", NULL };
	static const char *const cn_prefix[] = { "OU", "Sales", "CN",
	    "Ana Lima2", "emailAddress", "ana@example.com", NULL };
	/* a leaked challenge must not name someone else as well */
	static const char *const two_cn[] = { "OU", "Sales", "CN",
	    "Ana Lima", "CN", "Admin", "emailAddress", "ana@example.com",
	    NULL };
	static const char *const two_mail[] = { "OU", "Sales", "CN",
	    "Ana Lima", "emailAddress", "admin@example.com", "emailAddress",
	    "ana@example.com", NULL };
	struct pf_verdict v;
	char ch[PF_CHALLENGE_LEN + 1];
	long long cid;

	setup();
	cid = issue("ana", "scep", ch, binds, NOW - 60, NOW + TTL);
	T_OK(decide(req(key2, ch, wrong_cn, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && v.challenge_id == cid);
	T_CHECK(reason_is(&v, "subject CN does not match"));
	T_OK(decide(req(key2, ch, cn_prefix, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subject CN does not match"));
	T_OK(decide(req(key2, ch, no_ou, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subject 2.5.4.11 does not "
	    "match"));
	T_OK(decide(req(key2, ch, two_cn, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subject CN: the request "
	    "carries a value the profile does not"));
	T_OK(decide(req(key2, ch, two_mail, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subject E: the request "
	    "carries a value the profile does not"));
	/* Refusals consumed nothing: the rightful request (attributes of
	 * other types allowed) is approved. */
	T_CHECK(q("SELECT count(*) FROM challenges WHERE used_at IS NOT NULL",
	    0) == 0);
	T_OK(decide(req(key1, ch, good, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	/* And its retry must still match. */
	T_OK(decide(req(key1, ch, wrong_cn, NULL), NOW + 1, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subject CN does not match"));
	teardown();
}

static void
test_san_bindings(void)
{
	static const char *const binds[] = {
		"subject", "CN", "Ana Lima",
		"san", "rfc822Name", "ana@example.com",
		"san", "ntPrincipalName", "ana@corp.example",
		"san", "dNSName", "ana.example.com",
		"san", "uniformResourceIdentifier", "https://example.com/ana",
		NULL
	};
	static const char good[] = "email:ana@example.com,"
	    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
	    "DNS:ana.example.com,URI:https://example.com/ana";
	static const struct {
		const char *san;
		const char *reason;
	} bad[] = {
		{ NULL, "subjectAltName rfc822Name does not match" },
		{ "email:bob@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:ana.example.com,URI:https://example.com/ana",
		    "subjectAltName rfc822Name does not match" },
		{ "email:ana@example.com,DNS:ana.example.com,"
		    "URI:https://example.com/ana",
		    "subjectAltName ntPrincipalName does not match" },
		{ "email:ana@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:bob.example.com,URI:https://example.com/ana",
		    "subjectAltName dNSName does not match" },
		{ "email:ana@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:ana.example.com,URI:https://example.com/bob",
		    "subjectAltName uniformResourceIdentifier does not match" },
		/* No name the profile does not carry, of a bound type or
		 * another. */
		{ "email:ana@example.com,email:admin@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:ana.example.com,URI:https://example.com/ana",
		    "subjectAltName: the request carries a name the profile "
		    "does not" },
		{ "email:ana@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:ana.example.com,URI:https://example.com/ana,"
		    "DNS:extra.example",
		    "subjectAltName: the request carries a name the profile "
		    "does not" },
		{ "email:ana@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:ana.example.com,URI:https://example.com/ana,"
		    "IP:192.0.2.1",
		    "subjectAltName: the request carries a name the profile "
		    "does not" },
		/* The value as a DNS name is not an rfc822Name. */
		{ "DNS:ana@example.com,"
		    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ana@corp.example,"
		    "DNS:ana.example.com,URI:https://example.com/ana",
		    "subjectAltName rfc822Name does not match" },
	};
	struct pf_verdict v;
	char ch[PF_CHALLENGE_LEN + 1];
	size_t i;

	setup();
	issue("ana", "scep", ch, binds, NOW - 60, NOW + TTL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_OK(decide(req(key2, ch, subj_ana, bad[i].san), NOW, 3600,
		    &v));
		T_CHECK(!v.approved && reason_is(&v, bad[i].reason));
	}
	T_OK(decide(req(key1, ch, subj_ana, good), NOW, 3600, &v));
	T_CHECK(v.approved);
	teardown();
}

/* Bindings the verifier does not understand refuse, never approve. */
static void
test_unknown_binding(void)
{
	static const char *const b1[] = { "san", "iPAddress", "192.0.2.1",
	    NULL };
	static const char *const b2[] = { "subject", "NoSuchType", "x",
	    NULL };
	static const char *const b3[] = { "issuer", "CN", "x", NULL };
	struct pf_verdict v;
	char c1[PF_CHALLENGE_LEN + 1], c2[PF_CHALLENGE_LEN + 1];
	char c3[PF_CHALLENGE_LEN + 1];

	setup();
	issue("a", "t1", c1, b1, NOW - 60, NOW + TTL);
	issue("a", "t2", c2, b2, NOW - 60, NOW + TTL);
	issue("a", "t3", c3, b3, NOW - 60, NOW + TTL);
	T_OK(decide(req(key1, c1, NULL, "IP:192.0.2.1"), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subjectAltName iPAddress: "
	    "unknown type"));
	T_OK(decide(req(key1, c2, NULL, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "subject NoSuchType: unknown "
	    "attribute type"));
	T_OK(decide(req(key1, c3, NULL, NULL), NOW, 3600, &v));
	T_CHECK(!v.approved && reason_is(&v, "binding of unknown kind "
	    "\"issuer\""));
	teardown();
}

/* Requests that do not parse are refused and recorded without a key. */
static void
test_malformed_recorded(void)
{
	struct pf_verify_opts o = { .grace = 3600, .now = NOW };
	struct pf_verdict v;
	struct mkcsr m = { .key = key1, .challenge = "x" };
	unsigned char *der;
	size_t len;

	setup();
	T_OK(pf_verify_request(db, (const uint8_t *)"garbage", 7, &o, &v));
	T_CHECK(!v.approved && reason_is(&v, "malformed request"));
	T_CHECK(v.key_sha256[0] == '\0' && v.decision_id > 0);
	mkcsr_der(&m, &der, &len);
	der[len - 2] ^= 0x10;
	T_OK(pf_verify_request(db, der, len, &o, &v));
	T_CHECK(!v.approved && reason_is(&v, "bad request signature"));
	der[len - 2] ^= 0x10;
	T_OK(pf_verify_request(db, der, len, &o, &v));
	T_CHECK(!v.approved && reason_is(&v, "unknown challenge"));
	free(der);
	T_CHECK(q("SELECT count(*) FROM decisions WHERE key_sha256 IS NULL",
	    0) == 2);
	T_CHECK(q("SELECT count(*) FROM decisions", 0) == 3);
	teardown();
}

/* The challenge text never reaches the database. */
static void
test_no_secret_stored(void)
{
	struct pf_verdict v;
	char ch[PF_CHALLENGE_LEN + 1], pat[PATH_MAX + 8];

	setup();
	issue("ana", "scep", ch, bind_cn, NOW - 60, NOW + TTL);
	T_OK(decide(req(key2, ch, NULL, NULL), NOW, 3600, &v));
	T_OK(decide(req(key1, ch, subj_ana, NULL), NOW, 3600, &v));
	T_CHECK(v.approved);
	/* The database file (checkpointed on close): the text appears
	 * nowhere in it. */
	{
		FILE *f;
		char *buf;
		long n;

		teardown();
		T_REQUIRE((f = fopen(dbpath, "rb")) != NULL);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		T_REQUIRE(n > 0 && (buf = malloc((size_t)n)) != NULL);
		T_REQUIRE(fread(buf, 1, (size_t)n, f) == (size_t)n);
		fclose(f);
		T_CHECK(memmem(buf, (size_t)n, ch, strlen(ch)) == NULL);
		free(buf);
		snprintf(pat, sizeof(pat), "%s-wal", dbpath);
		if ((f = fopen(pat, "rb")) != NULL) {
			fseek(f, 0, SEEK_END);
			n = ftell(f);
			rewind(f);
			if (n > 0 && (buf = malloc((size_t)n)) != NULL) {
				if (fread(buf, 1, (size_t)n, f) == (size_t)n)
					T_CHECK(memmem(buf, (size_t)n, ch,
					    strlen(ch)) == NULL);
				free(buf);
			}
			fclose(f);
		}
	}
	OPENSSL_cleanse(ch, sizeof(ch));
}

/*
 * Processes with different keys race for one challenge, each with its own
 * connection: exactly one is approved.  Repeated over several challenges.
 */
static void
test_race(void)
{
	enum { NPROC = 8, NCH = 5 };
	char ch[NCH][PF_CHALLENGE_LEN + 1];
	pid_t pids[NPROC];
	int i, j, st, approved, errors;

	setup();
	for (j = 0; j < NCH; j++) {
		char user[16];

		snprintf(user, sizeof(user), "user%d", j);
		issue(user, "scep", ch[j], NULL, NOW - 60, NOW + TTL);
	}
	teardown();
	for (j = 0; j < NCH; j++) {
		for (i = 0; i < NPROC; i++) {
			if ((pids[i] = fork()) == -1) {
				perror("fork");
				exit(2);
			}
			if (pids[i] == 0) {
				struct pf_verify_opts o = { 3600, NOW };
				struct pf_verdict v;
				struct pf_db *cdb = NULL;
				struct pf_csr *c;
				EVP_PKEY *k = mkcsr_eckey();
				struct pf_error *err;
				int rc;

				c = req(k, ch[j], NULL, NULL);
				if ((err = pf_db_open(&cdb, dbpath, 0)) ||
				    (err = pf_verify_csr(cdb, c, &o, &v))) {
					fprintf(stderr, "child: %s\n",
					    err->msg);
					_exit(2);
				}
				rc = v.approved ? 0 : 1;
				pf_csr_free(c);
				pf_db_close(cdb);
				EVP_PKEY_free(k);
				_exit(rc);
			}
		}
		approved = errors = 0;
		for (i = 0; i < NPROC; i++) {
			if (waitpid(pids[i], &st, 0) == -1 || !WIFEXITED(st) ||
			    WEXITSTATUS(st) > 1)
				errors++;
			else if (WEXITSTATUS(st) == 0)
				approved++;
		}
		T_CHECK(errors == 0);
		T_CHECK(approved == 1);
	}
	T_OK(pf_db_open(&db, dbpath, 0));
	T_CHECK(q("SELECT count(*) FROM decisions WHERE result = 'approved'",
	    0) == NCH);
	T_CHECK(q("SELECT count(*) FROM decisions WHERE reason = "
	    "'challenge already used'", 0) == NCH * (NPROC - 1));
	T_CHECK(q("SELECT count(DISTINCT used_key_sha256) FROM challenges",
	    0) == NCH);
	teardown();
}

int
main(void)
{

	snprintf(tdir, sizeof(tdir), "%s/pf-test-verify.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	key1 = mkcsr_eckey();
	key2 = mkcsr_eckey();
	T_RUN(test_first_use_and_retry);
	T_RUN(test_unknown_and_missing);
	T_RUN(test_expired);
	T_RUN(test_revoke);
	T_RUN(test_superseded_and_pruned);
	T_RUN(test_retry_after_supersede_or_expiry);
	T_RUN(test_no_retry_after_revoke_of_newer);
	T_RUN(test_subject_bindings);
	T_RUN(test_san_bindings);
	T_RUN(test_unknown_binding);
	T_RUN(test_malformed_recorded);
	T_RUN(test_no_secret_stored);
	T_RUN(test_race);
	EVP_PKEY_free(key1);
	EVP_PKEY_free(key2);
	if (t_nfail == 0) {
		t_rm_rf(tdir);
	} else
		fprintf(stderr, "kept %s\n", tdir);
	T_DONE();
}
