/*
 * manifest: index.html next to manifest.csv and manifest.json: the same
 * rows, every value escaped, hrefs percent-encoded per path segment,
 * links only to profiles to hand out, nothing left behind on abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "outdir.h"
#include "util.h"
#include "t.h"

static struct pf_outdir *
scratch(char *root, size_t len)
{
	struct pf_outdir *od = NULL;
	struct pf_error *err;

	snprintf(root, len, "%s/pf-manifest.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(root) == NULL)
		return NULL;
	if ((err = pf_outdir_open(&od, root)) != NULL ||
	    (err = pf_outdir_create_run(od, "20261122-010203")) != NULL) {
		fprintf(stderr, "%s\n", err->msg);
		pf_error_free(err);
		pf_outdir_close(od);
		return NULL;
	}
	return od;
}

/* The whole of root/RUN/name, NUL-terminated, malloc'd; NULL if absent. */
static char *
slurp(const char *root, const char *name, mode_t *mode)
{
	char path[4200], *buf;
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/20261122-010203/%s", root, name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (buf = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, st.st_size);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	if (mode != NULL)
		*mode = st.st_mode;
	return buf;
}

static void
summary(struct pf_manifest_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->run = "20261122-010203";
	s->kind = "run";
	s->started = s->finished = 1795000000;
	s->duration_ms = 1234;
	s->csv = "<users>.csv";
	s->rows = 4;
	s->issued = 2;
	s->unchanged = 1;
	s->failed = 1;
}

static void
test_index(void)
{
	struct pf_manifest_row rows[5];
	struct pf_manifest_summary sum;
	struct pf_manifest *m = NULL;
	struct pf_outdir *od;
	char root[256], *html = NULL, *p;
	mode_t mode = 0;
	size_t i;

	T_REQUIRE((od = scratch(root, sizeof(root))) != NULL);
	memset(rows, 0, sizeof(rows));
	for (i = 0; i < 5; i++) {
		rows[i].line = (long)i + 2;
		rows[i].template_name = "scep";
		rows[i].template_version = 1;
		rows[i].bytes = -1;
	}
	rows[0].user = "<script>alert(1)</script>";
	rows[0].status = "issued";
	rows[0].file = "a b#c?d%e/\xc3\xa9t\xc3\xa9.mobileconfig";
	rows[1].user = "O'Neil \"&\" Sons";
	rows[1].status = "unchanged";
	rows[1].file = "../20261121-000000/o@x+y.scep.mobileconfig";
	rows[2].user = "eve";
	rows[2].status = "failed";
	rows[2].error = "duplicate key \"<img src=x>\"";
	rows[3].user = "rev";
	rows[3].status = "revoked";
	rows[3].file = "../20261121-000000/rev.scep.mobileconfig";
	rows[4].user = "bad\x01" "ctl\xff";
	rows[4].status = "issued";
	rows[4].file = "javascript:alert(1)";
	T_OK(pf_manifest_open(&m, od));
	for (i = 0; i < 5; i++)
		T_OK(pf_manifest_add(m, &rows[i]));
	/* nothing visible before the end */
	T_CHECK(slurp(root, "index.html", NULL) == NULL);
	summary(&sum);
	T_OK(pf_manifest_finish(m, &sum));
	T_REQUIRE((html = slurp(root, "index.html", &mode)) != NULL);
	T_CHECK((mode & 07777) == 0600);
	T_CHECK(strncmp(html, "<!DOCTYPE html>\n", 16) == 0);
	T_CHECK(strstr(html, "<script") == NULL);
	T_CHECK(strstr(html, "<img") == NULL);
	T_CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
	T_CHECK(strstr(html, "O&#39;Neil &quot;&amp;&quot; Sons") != NULL);
	T_CHECK(strstr(html, "duplicate key &quot;&lt;img src=x&gt;&quot;") !=
	    NULL);
	T_CHECK(strstr(html, "&lt;users&gt;.csv") != NULL);
	/* each segment encoded, '/' kept */
	T_CHECK(strstr(html, "<a href=\"a%20b%23c%3Fd%25e/%C3%A9t%C3%A9."
	    "mobileconfig\">a b#c?d%e/\xc3\xa9t\xc3\xa9.mobileconfig</a>") !=
	    NULL);
	T_CHECK(strstr(html, "<a href=\"../20261121-000000/o%40x%2By.scep."
	    "mobileconfig\">") != NULL);
	/* no scheme survives */
	T_CHECK(strstr(html, "href=\"javascript:") == NULL);
	T_CHECK(strstr(html, "href=\"javascript%3Aalert%281%29\"") != NULL);
	/* a revoked profile is named, not linked; a failed row has no link */
	T_CHECK(strstr(html, "href=\"../20261121-000000/rev") == NULL);
	T_CHECK(strstr(html, "<td class=\"file\">../20261121-000000/rev.scep."
	    "mobileconfig</td>") != NULL);
	T_CHECK((p = strstr(html, "<td class=\"user\">eve</td>")) != NULL &&
	    strstr(p, "<td class=\"file\"></td>") != NULL);
	/* control characters and bad UTF-8 become U+FFFD */
	T_CHECK(strstr(html, "bad\xef\xbf\xbd" "ctl\xef\xbf\xbd") != NULL);
	T_CHECK(strstr(html, "<tr><th>Duration</th><td>1.234 s</td></tr>") !=
	    NULL);
	T_CHECK(strstr(html, "<tr><th>Signer</th><td>none (unsigned)</td>") !=
	    NULL);
	T_CHECK(strstr(html, "</html>\n") != NULL);
	free(html);
	html = slurp(root, "manifest.csv", NULL);
	T_CHECK(html != NULL);
	free(html);
	pf_outdir_close(od);
	t_rm_rf(root);
}

/* An aborted run (a failed one) leaves no manifest and no page. */
static void
test_abort(void)
{
	struct pf_manifest_row row;
	struct pf_manifest *m = NULL;
	struct pf_outdir *od;
	char root[256], cmd[600];

	T_REQUIRE((od = scratch(root, sizeof(root))) != NULL);
	memset(&row, 0, sizeof(row));
	row.user = "a";
	row.template_name = "scep";
	row.status = "issued";
	row.file = "a/scep.mobileconfig";
	row.bytes = -1;
	T_OK(pf_manifest_open(&m, od));
	T_OK(pf_manifest_add(m, &row));
	pf_manifest_abort(m);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s/20261122-010203')\"",
	    root);
	T_CHECK(system(cmd) == 0);
	pf_outdir_close(od);
	t_rm_rf(root);
}

int
main(void)
{
	T_RUN(test_index);
	T_RUN(test_abort);
	T_DONE();
}
