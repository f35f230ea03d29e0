#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

struct pf_error *
pf_cmd_opendb(struct pf_cmdctx *ctx, struct pf_db **db)
{
	return pf_db_open(db, ctx->dbpath, 0);
}

struct pf_error *
pf_cmd_usage(struct pf_cmdctx *ctx, const char *fmt, ...)
{
	struct pf_error *err;
	char msg[PF_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err = pf_error_fmt(PF_EX_USAGE, "%s", msg);
	ctx->show_usage = 1;
	return err;
}

/* 1 if arg is a command option that takes no value ("--json"). */
static int
is_flag(const char *arg)
{
	static const char *const flags[] = { "--allow-unsigned",
	    "--dry-run", "--force", "--json", "--prune", "--reissue-revoked",
	    "--sendmail", "--strict", "--unsigned", "--wait" };
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(arg, flags[i]) == 0)
			return 1;
	return 0;
}

int
pf_cmd_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		/* after an option that takes a value, without "=VALUE", it
		 * may be that value ("--user -h"): the command's own parsing
		 * decides */
		if ((strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) && (i == 1 ||
		    argv[i - 1][0] != '-' || strchr(argv[i - 1], '=') != NULL ||
		    is_flag(argv[i - 1])))
			return 1;
	}
	return 0;
}

struct pf_error *
pf_read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;
	int fd;

	*data = NULL;
	*len = 0;
	/* (not blocking on a FIFO with no writer: only a regular file
	 * will do) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return pf_error_errno(errno == ENOENT ? PF_EX_NOINPUT :
		    PF_EX_IOERR, "%s", path);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return pf_error_fmt(PF_EX_NOINPUT, "%s: not a regular file",
		    path);
	}
	if ((size_t)sb.st_size > max) {
		close(fd);
		return pf_error_fmt(PF_EX_DATAERR, "%s: larger than %zu bytes",
		    path, max);
	}
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return pf_error_nomem();
	}
	while ((r = read(fd, buf + n, max + 1 - n)) > 0) {
		n += (size_t)r;
		if (n > max)
			break;
	}
	close(fd);
	if (r == -1) {
		free(buf);
		return pf_error_errno(PF_EX_IOERR, "read %s", path);
	}
	if (n > max) {
		free(buf);
		return pf_error_fmt(PF_EX_DATAERR, "%s: larger than %zu bytes",
		    path, max);
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return NULL;
}
