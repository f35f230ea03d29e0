/*
 * challenge: one-time SCEP challenges.  The text is 192 bits from
 * OpenSSL's CSPRNG in base64url (32 characters, no padding); only its
 * SHA-256 digest is ever stored.
 */
#ifndef PF_CHALLENGE_H
#define PF_CHALLENGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define PF_CHALLENGE_BYTES	24
#define PF_CHALLENGE_LEN	32	/* characters, without the NUL */

/* Fresh challenge text into text (NUL-terminated) and its digest.  The
 * caller wipes text with OPENSSL_cleanse when done. */
struct pf_error *pf_challenge_new(char text[PF_CHALLENGE_LEN + 1],
    uint8_t digest[PF_SHA256_LEN]);

/* Digest of a challenge as presented (for lookups). */
void pf_challenge_digest(const char *text, size_t len,
    uint8_t digest[PF_SHA256_LEN]);

#endif
