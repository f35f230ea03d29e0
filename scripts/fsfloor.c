/*
 * fsfloor DIR COUNT [BYTES] — what the file work of a run costs here, alone.
 *
 * Does, COUNT times, what a run does in the kernel for each new profile,
 * and nothing else: an unnamed file made in DIR/run (O_TMPFILE), BYTES
 * (default 4 096: a profile's size, which decides how many pages of
 * memory and blocks of disk it takes) written to it, its name given
 * (linkat), a hard link made in
 * DIR/current, and every 4 096 files a syncfs, after which the files'
 * pages are dropped from the page cache.  DIR is marked as a top of
 * directory hierarchies first, as a run marks OUT.  Prints the CPU
 * microseconds per file of this process (user and system); scripts/bench,
 * which builds and runs it, adds what the whole machine spent meanwhile
 * (the kernel's writeback threads).  Not part of profactory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#define FILE_BYTES	4096	/* without BYTES */
#define MAX_BYTES	(1 << 20)
#define SYNC_EVERY	4096

static void
die(const char *what)
{
	fprintf(stderr, "fsfloor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* CPU seconds of this process. */
static double
cpu_self(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == -1)
		die("clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
subdir(int parent, const char *name)
{
	int fd;

	if (mkdirat(parent, name, 0700) == -1 ||
	    (fd = openat(parent, name, O_RDONLY | O_DIRECTORY)) == -1)
		die(name);
	return fd;
}

static void
usage(void)
{
	fprintf(stderr, "usage: fsfloor DIR COUNT [BYTES]\n");
	exit(64);
}

int
main(int argc, char *argv[])
{
	static char data[MAX_BYTES];
	char name[128], *end;
	double c0, c1;
	long i, n, bytes = FILE_BYTES;
	int dir, run, cur, fd, flags, held[SYNC_EVERY], nheld = 0, batch;
	struct rlimit rl;

	if (argc != 3 && argc != 4)
		usage();
	if ((n = strtol(argv[2], &end, 10)) <= 0 || *end != '\0')
		usage();
	if (argc == 4 && ((bytes = strtol(argv[3], &end, 10)) <= 0 ||
	    bytes > MAX_BYTES || *end != '\0'))
		usage();
	if ((dir = open(argv[1], O_RDONLY | O_DIRECTORY)) == -1)
		die(argv[1]);
	if (ioctl(dir, FS_IOC_GETFLAGS, &flags) == 0) {
		flags |= FS_TOPDIR_FL;
		(void)ioctl(dir, FS_IOC_SETFLAGS, &flags);
	}
	/* The files of a batch stay open until synced, as in a run: the
	 * descriptor limit raised as far as allowed, or smaller batches. */
	batch = SYNC_EVERY;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && rl.rlim_cur < SYNC_EVERY + 64) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > SYNC_EVERY + 64 ? SYNC_EVERY + 64 :
		    rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur < SYNC_EVERY + 64)
			batch = rl.rlim_cur > 96 ? (int)rl.rlim_cur - 64 : 32;
	}
	run = subdir(dir, "run");
	cur = subdir(dir, "current");
	memset(data, 'x', (size_t)bytes);

	c0 = cpu_self();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name),
		    "user.%ld@example.com.scep.mobileconfig", i);
		if ((fd = openat(run, ".", O_TMPFILE | O_WRONLY, 0600)) == -1)
			die("O_TMPFILE");
		if (write(fd, data, (size_t)bytes) != (ssize_t)bytes)
			die("write");
		if (linkat(fd, "", run, name, AT_EMPTY_PATH) == -1) {
			char proc[64];

			/* without CAP_DAC_READ_SEARCH */
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			if (linkat(AT_FDCWD, proc, run, name,
			    AT_SYMLINK_FOLLOW) == -1)
				die("linkat");
		}
		held[nheld++] = fd;
		if (linkat(run, name, cur, name, 0) == -1)
			die("link into current");
		if (nheld == batch || i + 1 == n) {
			if (syncfs(run) == -1)
				die("syncfs");
			while (nheld > 0) {
				fd = held[--nheld];
				(void)posix_fadvise(fd, 0, 0,
				    POSIX_FADV_DONTNEED);
				close(fd);
			}
		}
	}
	c1 = cpu_self();
	printf("%.1f\n", (c1 - c0) / (double)n * 1e6);
	return 0;
}
