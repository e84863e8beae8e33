// SPDX-License-Identifier: GPL-2.0-only
/*
 * /init of the workbench's QEMU debug run: arm failslab for the test's
 * allocation-failure case, load the KUnit suites as modules (KTAP goes to
 * the console), let kmemleak scan what the suite left behind, print the
 * report, power off. Built static; the kernel's log is the only output.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEBUGFS "/sys/kernel/debug"

static int put(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	int ok = fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);

	if (!ok)
		printf("workbench-init: cannot write '%s' to %s\n", value, path);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* Copy a debugfs file to the console, and say how many bytes it had. */
static long show(const char *path)
{
	char buf[4096];
	long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, n, stdout);
		total += n;
	}
	close(fd);
	fflush(stdout);
	return total;
}

/*
 * Load a module with its parameters; KUnit runs its suites from the
 * module's init.
 */
static void load(const char *path, const char *params, int required)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		if (required)
			printf("workbench-init: no %s\n", path);
		return;
	}
	if (syscall(SYS_finit_module, fd, params, 0))
		printf("workbench-init: loading %s failed\n", path);
	close(fd);
}

int main(int argc, char **argv)
{
	char *params, *p;
	long leaks;

	setvbuf(stdout, NULL, _IOLBF, 0);
	mkdir("/sys", 0755);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("debugfs", DEBUGFS, "debugfs", 0, NULL);

	/* Let failslab fail GFP_KERNEL allocations that a test asks to fail. */
	put(DEBUGFS "/failslab/ignore-gfp-wait", "N");
	/*
	 * Forget what boot leaked or seemed to: scan, then clear, so only the
	 * suite's leaks count. (6.1's ACPI early caches turn up only later;
	 * workbench/kunit-results.py sets apart objects allocated in
	 * start_kernel, by pid 0 before the first initcall.)
	 */
	put(DEBUGFS "/kmemleak", "scan");
	put(DEBUGFS "/kmemleak", "clear");

	/*
	 * The suite's parameters, from "wb_test_params=..." on the kernel
	 * command line, which the kernel hands to /init as an environment
	 * variable (workbench/kunit's test-params directive, commas between
	 * parameters).
	 */
	params = getenv("wb_test_params");
	if (params) {
		/* One word on the command line: commas between parameters. */
		for (p = params; *p; p++)
			if (*p == ',')
				*p = ' ';
		printf("workbench-init: test.ko %s\n", params);
	}
	load("/test.ko", params ? params : "", 1);

	/*
	 * kmemleak judges our suite alone: it scans before the dma-buf suites
	 * beside ours run, whose own leaks (or kfree_rcu() objects still in
	 * flight) are not the series'. Their KTAP results still count.
	 * kmemleak ignores objects younger than 5 s; scan twice, as advised.
	 */
	sleep(6);
	put(DEBUGFS "/kmemleak", "scan");
	put(DEBUGFS "/kmemleak", "scan");
	printf("workbench-init: kmemleak scan start\n");
	leaks = show(DEBUGFS "/kmemleak");
	if (leaks < 0)
		printf("workbench-init: kmemleak scan failed: no " DEBUGFS "/kmemleak\n");
	else
		printf("workbench-init: kmemleak scan done, %ld bytes of reports\n", leaks);

	/* The dma-buf suites beside ours, where the run has them. */
	load("/neighbour.ko", "", 0);

	sync();
	reboot(RB_AUTOBOOT);	/* QEMU runs with -no-reboot: it exits */
	return 0;
}
