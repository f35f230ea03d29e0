#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "challenge.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct pf_error *
pf_challenge_new(char text[PF_CHALLENGE_LEN + 1],
    uint8_t digest[PF_SHA256_LEN])
{
	uint8_t raw[PF_CHALLENGE_BYTES];
	size_t i, o = 0;

	if (!pf_random(raw, sizeof(raw)))
		return pf_error_ssl(PF_EX_SOFTWARE, "random challenge");
	/* 24 bytes = 8 groups of 3 bytes = 32 characters, no padding. */
	for (i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 |
		    (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		text[o++] = b64url[(v >> 18) & 63];
		text[o++] = b64url[(v >> 12) & 63];
		text[o++] = b64url[(v >> 6) & 63];
		text[o++] = b64url[v & 63];
	}
	text[o] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	pf_challenge_digest(text, PF_CHALLENGE_LEN, digest);
	return NULL;
}

void
pf_challenge_digest(const char *text, size_t len,
    uint8_t digest[PF_SHA256_LEN])
{
	pf_sha256(text, len, digest);
}
