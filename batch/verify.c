#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "challenge.h"
#include "verify.h"

static const char sql_challenge[] =
    "SELECT id, profile_id, expires_at, used_at, used_key_sha256, "
    "revoked_at, revoke_reason FROM challenges WHERE digest = ?1";
/* Why the newest challenge of the same user and template (by name) is
 * revoked, if it is: after `revoke` or --prune no retry is approved, also
 * of a challenge superseded before.  (Both now also mark such used,
 * superseded challenges; this covers databases revoked or pruned by
 * earlier builds, which did not.) */
static const char sql_newest[] =
    "SELECT n.revoke_reason FROM challenges c "
    "JOIN templates t ON t.id = c.template_id "
    "JOIN challenges n ON n.user_id = c.user_id "
    "JOIN templates nt ON nt.id = n.template_id AND nt.name = t.name "
    "WHERE c.id = ?1 ORDER BY n.id DESC LIMIT 1";
static const char sql_bindings[] =
    "SELECT kind, name, value FROM bindings WHERE profile_id = ?1 "
    "ORDER BY rowid";
static const char sql_use[] =
    "UPDATE challenges SET used_at = ?2, used_key_sha256 = ?3 "
    "WHERE id = ?1 AND used_at IS NULL";
static const char sql_decision[] =
    "INSERT INTO decisions (at, challenge_id, result, reason, key_sha256) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";

static void
refuse(struct pf_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
refuse(struct pf_verdict *v, const char *fmt, ...)
{
	va_list ap;

	v->approved = 0;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

/* The dotted OID of a Subject attribute type as a template writes it:
 * "CN", "O", "emailAddress", "E", "2.5.4.5".  -1 when unknown. */
static int
subject_oid(const char *name, char oid[PF_CSR_OID_MAX])
{
	ASN1_OBJECT *obj;
	int r;

	if (strcmp(name, "E") == 0)
		name = "emailAddress";
	if ((obj = OBJ_txt2obj(name, 0)) == NULL) {
		ERR_clear_error();
		return -1;
	}
	r = OBJ_obj2txt(oid, PF_CSR_OID_MAX, obj, 1);
	ASN1_OBJECT_free(obj);
	return r > 0 && r < PF_CSR_OID_MAX ? 0 : -1;
}

/* One binding of the profile, as read back. */
struct bound {
	int san;			/* a subjectAltName entry, else subject */
	int type;			/* enum pf_san_type */
	char oid[PF_CSR_OID_MAX];	/* subject attribute type */
	char name[64];			/* as recorded, for the reason */
	uint8_t *value;			/* malloc'd */
	size_t len;
};

/* 1 if the request's entry k (subject attributes first, then SAN
 * entries) is of the type of b. */
static int
same_type(const struct pf_csr *csr, size_t k, const struct bound *b)
{
	if (k < csr->nrdns)
		return !b->san && strcmp(csr->rdns[k].oid, b->oid) == 0;
	return b->san && (int)csr->sans[k - csr->nrdns].type == b->type;
}

static int
same_value(const struct pf_csr *csr, size_t k, const struct bound *b)
{
	const char *v;
	size_t len;

	if (k < csr->nrdns) {
		v = csr->rdns[k].value;
		len = csr->rdns[k].len;
	} else {
		v = csr->sans[k - csr->nrdns].value;
		len = csr->sans[k - csr->nrdns].len;
	}
	return len == b->len && memcmp(v, b->value, len) == 0;
}

/* Read the profile's bindings into *out (*n of them); refuses v when one
 * cannot be understood. */
static struct pf_error *
read_bindings(struct pf_db *db, long long profile_id, struct bound **out,
    size_t *n, struct pf_verdict *v)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;
	struct bound *a = NULL, *b, *t;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((err = pf_db_prepare(db, &st, sql_bindings)) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, profile_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const void *val = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((t = reallocarray(a, cap, sizeof(*a))) == NULL) {
				err = pf_error_nomem();
				break;
			}
			a = t;
		}
		b = &a[*n];
		memset(b, 0, sizeof(*b));
		if (kind == NULL || name == NULL) {
			refuse(v, "malformed binding");
			break;
		}
		snprintf(b->name, sizeof(b->name), "%s", name);
		if (strcmp(kind, "subject") == 0) {
			if (subject_oid(name, b->oid) == -1) {
				refuse(v, "subject %s: unknown attribute type",
				    b->name);
				break;
			}
		} else if (strcmp(kind, "san") == 0) {
			b->san = 1;
			if ((b->type = pf_san_type_from_name(name)) == -1) {
				refuse(v, "subjectAltName %s: unknown type",
				    b->name);
				break;
			}
		} else {
			refuse(v, "binding of unknown kind \"%.40s\"", kind);
			break;
		}
		if ((b->value = malloc(len + 1)) == NULL) {
			err = pf_error_nomem();
			break;
		}
		if (len > 0)
			memcpy(b->value, val, len);
		b->len = len;
		(*n)++;
	}
	if (err == NULL && v->approved && rc != SQLITE_ROW &&
	    rc != SQLITE_DONE)
		err = pf_db_error(db, "read bindings");
	sqlite3_finalize(st);
	*out = a;
	return err;
}

/*
 * Check the profile's bindings against the request; refuses v on the first
 * mismatch.  For every Subject attribute type that a binding names (CN,
 * O, ...), the request must carry exactly the profile's values of that
 * type: each of them, and no other.  Where the profile's subjectAltName
 * holds user data, all its entries are bound, and the request must carry
 * exactly them.  A request that added a second CN, another rfc822Name or
 * a dNSName would get a certificate that names someone or something else
 * too.  Subject attributes of other types are the client's choice (SCEP
 * clients add their own O, OU, C).
 */
static struct pf_error *
check_bindings(struct pf_db *db, long long profile_id,
    const struct pf_csr *csr, struct pf_verdict *v)
{
	static const char extra_san[] = "subjectAltName: the request carries "
	    "a name the profile does not";
	struct pf_error *err;
	struct bound *b = NULL;
	size_t nb = 0, i, k, nk = csr->nrdns + csr->nsans;
	char *used = NULL;
	int san;

	if ((err = read_bindings(db, profile_id, &b, &nb, v)) != NULL ||
	    !v->approved || nb == 0)
		goto done;
	if ((used = calloc(nk + 1, 1)) == NULL) {
		err = pf_error_nomem();
		goto done;
	}
	for (i = 0; i < nb; i++) {
		for (k = 0; k < nk; k++)
			if (!used[k] && same_type(csr, k, &b[i]) &&
			    same_value(csr, k, &b[i]))
				break;
		if (k == nk) {
			refuse(v, "%s %s does not match", b[i].san ?
			    "subjectAltName" : "subject", b[i].name);
			goto done;
		}
		used[k] = 1;
	}
	for (i = 0, san = 0; i < nb; i++)
		san |= b[i].san;
	if (san && csr->nsans_other > 0) {
		refuse(v, "%s", extra_san);
		goto done;
	}
	for (k = 0; k < nk; k++) {
		if (used[k])
			continue;
		if (k >= csr->nrdns && san) {
			refuse(v, "%s", extra_san);
			goto done;
		}
		for (i = 0; i < nb; i++)
			if (same_type(csr, k, &b[i]))
				break;
		if (i < nb) {
			refuse(v, "subject %s: the request carries a value "
			    "the profile does not", b[i].name);
			goto done;
		}
	}
done:
	for (i = 0; i < nb; i++)
		free(b[i].value);
	free(b);
	free(used);
	return err;
}

/* The decision itself; inside the transaction.  Consumes the challenge
 * when it approves a first use. */
static struct pf_error *
decide(struct pf_db *db, const struct pf_csr *csr,
    const struct pf_verify_opts *o, struct pf_verdict *v)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err = NULL;
	uint8_t digest[PF_SHA256_LEN];
	long long profile_id, expires_at, used_at = 0;
	const char *used_key, *why;
	int rc, used, revoked, retry = 0;

	if (csr->challenge == NULL || csr->challenge_len == 0) {
		refuse(v, "no challenge in request");
		return NULL;
	}
	pf_challenge_digest((const char *)csr->challenge, csr->challenge_len,
	    digest);
	if ((err = pf_db_prepare(db, &st, sql_challenge)) != NULL)
		goto done;
	sqlite3_bind_blob(st, 1, digest, sizeof(digest), SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		refuse(v, "unknown challenge");
		goto done;
	}
	if (rc != SQLITE_ROW) {
		err = pf_db_error(db, "read challenge");
		goto done;
	}
	v->challenge_id = sqlite3_column_int64(st, 0);
	profile_id = sqlite3_column_int64(st, 1);
	expires_at = sqlite3_column_int64(st, 2);
	used = sqlite3_column_type(st, 3) != SQLITE_NULL;
	if (used)
		used_at = sqlite3_column_int64(st, 3);
	used_key = (const char *)sqlite3_column_text(st, 4);
	revoked = sqlite3_column_type(st, 5) != SQLITE_NULL;
	why = (const char *)sqlite3_column_text(st, 6);

	/*
	 * The retry of an approved request (the same key, within the grace
	 * period): the device may never have had its certificate, so it is
	 * approved again even when the challenge has expired since, or a
	 * run has superseded it (a new template version, a changed row).
	 * Not after `revoke` or --prune: the administrator wants the user
	 * out.
	 */
	retry = used && used_key != NULL &&
	    strcmp(used_key, csr->key_sha256) == 0 &&
	    (long long)o->now >= used_at &&
	    (long long)o->now - used_at <= o->grace &&
	    (!revoked || (why != NULL && strcmp(why, "superseded") == 0));
	if (retry && revoked) {
		/* superseded: unless the user has been revoked or pruned
		 * since */
		sqlite3_finalize(st);
		st = NULL;
		if ((err = pf_db_prepare(db, &st, sql_newest)) != NULL)
			goto done;
		sqlite3_bind_int64(st, 1, v->challenge_id);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			err = pf_db_error(db, "read challenge");
			goto done;
		}
		why = (const char *)sqlite3_column_text(st, 0);
		if (why != NULL && strcmp(why, "pruned") == 0) {
			refuse(v, "challenge pruned");
			goto done;
		}
		if (why != NULL && strcmp(why, "revoked") == 0) {
			refuse(v, "challenge revoked");
			goto done;
		}
	}
	if (revoked && !retry) {
		if (why != NULL && strcmp(why, "superseded") == 0)
			refuse(v, "challenge superseded");
		else if (why != NULL && strcmp(why, "pruned") == 0)
			refuse(v, "challenge pruned");
		else
			refuse(v, "challenge revoked");
		goto done;
	}
	if ((long long)o->now >= expires_at && !retry) {
		refuse(v, "challenge expired");
		goto done;
	}
	if (used && !retry) {
		if (used_key == NULL ||
		    strcmp(used_key, csr->key_sha256) != 0) {
			refuse(v, "challenge already used");
			goto done;
		}
		refuse(v, "challenge already used (grace period over)");
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;

	v->approved = 1;
	if ((err = check_bindings(db, profile_id, csr, v)) != NULL ||
	    !v->approved)
		goto done;
	if (retry) {
		snprintf(v->reason, sizeof(v->reason), "retry by the same key "
		    "within the grace period");
		goto done;
	}
	if ((err = pf_db_prepare(db, &st, sql_use)) != NULL)
		goto done;
	sqlite3_bind_int64(st, 1, v->challenge_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)o->now);
	sqlite3_bind_text(st, 3, csr->key_sha256, -1, SQLITE_STATIC);
	if ((err = pf_db_step_done(db, st, "use challenge")) != NULL)
		goto done;
	if (sqlite3_changes(db->h) != 1) {
		/* Cannot happen under BEGIN IMMEDIATE; refuse if it does. */
		refuse(v, "challenge already used");
		goto done;
	}
	snprintf(v->reason, sizeof(v->reason), "challenge accepted");
done:
	if (err != NULL)
		v->approved = 0;
	sqlite3_finalize(st);
	OPENSSL_cleanse(digest, sizeof(digest));
	return err;
}

static struct pf_error *
record(struct pf_db *db, const struct pf_verify_opts *o,
    struct pf_verdict *v)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err;

	if ((err = pf_db_prepare(db, &st, sql_decision)) != NULL)
		return err;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)o->now);
	if (v->challenge_id > 0)
		sqlite3_bind_int64(st, 2, v->challenge_id);
	sqlite3_bind_text(st, 3, v->approved ? "approved" : "refused", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 4, v->reason, -1, SQLITE_STATIC);
	if (v->key_sha256[0] != '\0')
		sqlite3_bind_text(st, 5, v->key_sha256, -1, SQLITE_STATIC);
	if ((err = pf_db_step_done(db, st, "record decision")) == NULL)
		v->decision_id = sqlite3_last_insert_rowid(db->h);
	sqlite3_finalize(st);
	return err;
}

/* Decide (csr != NULL) or record the refusal already in *v, in one
 * transaction. */
static struct pf_error *
run(struct pf_db *db, const struct pf_csr *csr,
    const struct pf_verify_opts *o, struct pf_verdict *v)
{
	struct pf_error *err;

	if ((err = pf_db_begin(db)) != NULL)
		return err;
	if ((csr == NULL || (err = decide(db, csr, o, v)) == NULL) &&
	    (err = record(db, o, v)) == NULL)
		err = pf_db_commit(db);
	if (err != NULL) {
		pf_db_rollback(db);
		v->approved = 0;
		v->decision_id = 0;
	}
	return err;
}

struct pf_error *
pf_verify_csr(struct pf_db *db, const struct pf_csr *csr,
    const struct pf_verify_opts *o, struct pf_verdict *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->key_sha256, csr->key_sha256, sizeof(v->key_sha256));
	return run(db, csr, o, v);
}

struct pf_error *
pf_verify_request(struct pf_db *db, const uint8_t *p, size_t len,
    const struct pf_verify_opts *o, struct pf_verdict *v)
{
	struct pf_csr *csr = NULL;
	struct pf_error *err;

	memset(v, 0, sizeof(*v));
	if ((err = pf_csr_parse(p, len, &csr)) != NULL) {
		if (err->code != PF_EX_DATAERR)
			return err;
		refuse(v, "%s", err->msg);
		pf_error_free(err);
		return run(db, NULL, o, v);
	}
	err = pf_verify_csr(db, csr, o, v);
	pf_csr_free(csr);
	return err;
}

struct pf_error *
pf_revoke_user(struct pf_db *db, const char *user, const char *template_name,
    time_t now, long long *count)
{
	sqlite3_stmt *st = NULL;
	struct pf_error *err = NULL;
	long long user_id = 0;
	int rc;

	*count = 0;
	if ((err = pf_db_begin(db)) != NULL)
		return err;
	if ((err = pf_db_prepare(db, &st, "SELECT id FROM users WHERE key = "
	    "?1")) != NULL)
		goto done;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		user_id = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		err = pf_error_fmt(PF_EX_DATAERR, "user \"%s\" not found",
		    user);
	else
		err = pf_db_error(db, "read users");
	sqlite3_finalize(st);
	st = NULL;
	if (err != NULL)
		goto done;

	if (template_name != NULL) {
		if ((err = pf_db_prepare(db, &st, "SELECT 1 FROM templates "
		    "WHERE name = ?1 LIMIT 1")) != NULL)
			goto done;
		sqlite3_bind_text(st, 1, template_name, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_DONE)
			err = pf_error_fmt(PF_EX_DATAERR, "template \"%s\" not "
			    "found", template_name);
		else if (rc != SQLITE_ROW)
			err = pf_db_error(db, "read templates");
		sqlite3_finalize(st);
		st = NULL;
		if (err != NULL)
			goto done;
	}

	if ((err = pf_db_prepare(db, &st, "UPDATE challenges SET "
	    "revoked_at = ?1, revoke_reason = 'revoked' WHERE user_id = ?2 "
	    "AND revoked_at IS NULL AND (?3 IS NULL OR template_id IN "
	    "(SELECT id FROM templates WHERE name = ?3))")) != NULL)
		goto done;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 2, user_id);
	if (template_name != NULL)
		sqlite3_bind_text(st, 3, template_name, -1, SQLITE_STATIC);
	if ((err = pf_db_step_done(db, st, "revoke challenges")) != NULL)
		goto done;
	*count = sqlite3_changes(db->h);
	sqlite3_finalize(st);
	st = NULL;
	/* A used challenge a reissue superseded could still be approved
	 * again by its key's retry (the grace period): revoked too. */
	if ((err = pf_db_prepare(db, &st, "UPDATE challenges SET "
	    "revoke_reason = 'revoked' WHERE user_id = ?1 AND revoke_reason = "
	    "'superseded' AND used_at IS NOT NULL AND (?2 IS NULL OR "
	    "template_id IN (SELECT id FROM templates WHERE name = ?2))")) !=
	    NULL)
		goto done;
	sqlite3_bind_int64(st, 1, user_id);
	if (template_name != NULL)
		sqlite3_bind_text(st, 2, template_name, -1, SQLITE_STATIC);
	if ((err = pf_db_step_done(db, st, "revoke challenges")) != NULL)
		goto done;
	err = pf_db_commit(db);
done:
	sqlite3_finalize(st);
	if (err != NULL) {
		pf_db_rollback(db);
		*count = 0;
	}
	return err;
}
