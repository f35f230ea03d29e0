/*
 * mime: an RFC 5322 message with a text part and one attachment
 * (RFC 2045-2047, 2231), built in memory with CRLF line ends.  Nothing a
 * user wrote reaches a header as it is: addresses must pass
 * pf_mime_addr_ok(), display names and subjects lose their control
 * characters and become RFC 2047 encoded-words unless they are plain
 * ASCII, and the attachment's name is an RFC 2231 parameter with an ASCII
 * fallback.  No I/O; every function appends to a pf_buf.
 */
#ifndef PF_MIME_H
#define PF_MIME_H

#include <stddef.h>
#include <time.h>

#include "error.h"
#include "util.h"

#define PF_MIME_ADDR_MAX	254	/* bytes of an addr-spec (RFC 5321) */
#define PF_MIME_MSGID_MAX	160	/* bytes of a Message-ID, <> and NUL */

/*
 * 1 if addr is a plausible addr-spec: a dot-atom local part of at most 64
 * bytes of RFC 5322 atext, "@", and a domain of at least two labels of
 * ASCII letters, digits and inner hyphens (at most 63 bytes each, 253 in
 * all).  Quoted local parts, address literals and non-ASCII (SMTPUTF8)
 * addresses are refused.
 */
int pf_mime_addr_ok(const char *addr);

/*
 * Split a mailbox as a user writes it, "addr" or "Display Name <addr>"
 * (the name may be a "quoted string"), into malloc'd copies; *name is NULL
 * when there is none.  The address is not checked here.  Errors:
 * PF_EX_USAGE for an unbalanced "<" or quote, out of memory.
 */
struct pf_error *pf_mime_mailbox_split(const char *s, char **name,
    char **addr);

struct pf_mime_msg {
	const char *from_name;		/* display name or NULL */
	const char *from_addr;		/* passed pf_mime_addr_ok() */
	const char *to_name;		/* display name or NULL */
	const char *to_addr;		/* passed pf_mime_addr_ok() */
	const char *subject;		/* UTF-8 */
	const char *text;		/* body text, UTF-8, any line ends */
	size_t text_len;
	const void *attach;		/* the attachment's bytes */
	size_t attach_len;
	const char *attach_name;	/* UTF-8 file name */
	const char *attach_type;	/* e.g. application/x-apple-aspen-config */
	time_t date;
};

/*
 * Append the message to out: From, To, Subject, Date, Message-ID,
 * MIME-Version and a multipart/mixed Content-Type whose boundary is
 * random and occurs nowhere else in the message; the text as
 * quoted-printable UTF-8, the attachment as base64 in 76-character lines.
 * msgid (at least PF_MIME_MSGID_MAX bytes) gets the Message-ID, angle
 * brackets included.  Errors: out of memory, PF_EX_SOFTWARE when the
 * random generator fails.
 */
struct pf_error *pf_mime_build(struct pf_buf *out,
    const struct pf_mime_msg *m, char *msgid, size_t msgidlen);

/* The pieces, each appending one complete part (headers end in CRLF). */

/* "Field: text" for unstructured text (Subject), folded; control
 * characters become spaces, invalid UTF-8 U+FFFD; encoded-words unless
 * the text is plain printable ASCII. */
struct pf_error *pf_mime_header_text(struct pf_buf *b, const char *field,
    const char *text);
/* "Field: Display Name <addr>" (or "Field: addr" without a name); addr
 * must have passed pf_mime_addr_ok(). */
struct pf_error *pf_mime_header_mailbox(struct pf_buf *b, const char *field,
    const char *name, const char *addr);
/* Text as quoted-printable with CRLF line ends and lines of at most 76
 * characters; a "." or "From " at the start of a line is encoded too. */
struct pf_error *pf_mime_qp(struct pf_buf *b, const char *text, size_t len);
/* Base64 in lines of 76 characters, each ending in CRLF. */
struct pf_error *pf_mime_base64(struct pf_buf *b, const void *data,
    size_t len);

#endif
