/*
 * verify: the challenge authority.  Decides whether a certificate request
 * may be signed (its challenge exists, is unexpired, unrevoked and unused,
 * or was used by the same public key within the grace period; its subject
 * and subjectAltName carry the values the profile bound), consumes the
 * challenge on approval, and records every decision in the decisions
 * table.  Also revokes a user's outstanding challenges.
 */
#ifndef PF_VERIFY_H
#define PF_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "csr.h"
#include "db.h"
#include "error.h"
#include "util.h"

#define PF_VERIFY_GRACE_DEFAULT	3600	/* seconds */

struct pf_verify_opts {
	long long grace;	/* seconds after first use in which the same
				   key is approved again (SCEP retries) */
	time_t now;		/* decision time */
};

struct pf_verdict {
	int approved;			/* 1 approved, 0 refused */
	long long challenge_id;		/* 0 when no challenge was found */
	long long decision_id;		/* the decisions row */
	char reason[256];		/* short, never holds the challenge */
	char key_sha256[PF_SHA256_HEX];	/* "" when the request did not parse */
};

/*
 * Parse the request p[0..len) (see pf_csr_parse) and decide on it.  A
 * request that does not parse or whose signature does not verify is
 * refused with the parser's message as reason.  Returns NULL once the
 * decision is recorded (*v says which it is); an error (database: busy is
 * PF_EX_TEMPFAIL, I/O PF_EX_IOERR) means nothing was recorded and nothing
 * consumed.
 */
struct pf_error *pf_verify_request(struct pf_db *db, const uint8_t *p,
    size_t len, const struct pf_verify_opts *o, struct pf_verdict *v);

/*
 * Decide on a parsed request and record the decision, all in one
 * BEGIN IMMEDIATE transaction, so concurrent callers are serialised and
 * a challenge is consumed at most once.  A refusal changes nothing but the
 * decisions table.  Errors as pf_verify_request.
 */
struct pf_error *pf_verify_csr(struct pf_db *db, const struct pf_csr *csr,
    const struct pf_verify_opts *o, struct pf_verdict *v);

/*
 * Revoke (revoked_at = now, revoke_reason 'revoked') every unrevoked
 * challenge of the user with key user, only those of templates named
 * template_name when that is not NULL.  *count gets how many.  Unknown
 * user or template name: PF_EX_DATAERR.
 */
struct pf_error *pf_revoke_user(struct pf_db *db, const char *user,
    const char *template_name, time_t now, long long *count);

#endif
