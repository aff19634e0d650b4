// SPDX-License-Identifier: GPL-2.0
/*
 * heap-sync-race DEVICE [SECONDS]: CPU-access syncs of a system-heap dma-buf
 * race the unmapping of its DMA mappings.
 *
 * A 16 MiB dma-buf from /dev/dma_heap/system is registered against DEVICE
 * (an NVMe namespace, opened O_DIRECT; only read) in SLOTS io_uring buffer
 * slots, each registration an attachment of its own that is mapped for the
 * NVMe device, and then taken out again, in turn by
 * IORING_UNREGISTER_BUFFERS, by IORING_REGISTER_BUFFERS_UPDATE to an empty
 * slot, and by IORING_REGISTER_BUFFERS_UPDATE to a plain user buffer (which
 * is emptied before the next round).  A READ_FIXED into one slot each round
 * proves the registrations work.  Taking a registration out retires its
 * mapping, which a worker unmaps once idle.  Meanwhile SYNC_THREADS threads
 * issue DMA_BUF_IOCTL_SYNC on the dma-buf without pause (start and end;
 * read, write and both), so that the exporter's begin/end_cpu_access walk
 * the attachments while their mappings are being unmapped.  It goes on for
 * SECONDS (default 6).  Each round waits until the previous round's
 * attachments are gone (detached after their unmap, seen in the dma-buf's
 * debugfs bufinfo) before it registers again: the buffer never has more
 * than SLOTS mappings at once, below the 7 overlapping mappings of a
 * cacheline that DMA API debugging warns about, and a mapping that is never
 * released fails the test.
 *
 * An exporter that lets a sync run on a mapping while it is unmapped gets
 * "DMA-API: ... device driver tries to sync DMA memory it has not allocated"
 * from DMA API debugging; so does one that maps or unmaps an attachment
 * while a sync walks another one with the same DMA addresses (the IOMMU
 * off), since DMA API debugging cannot tell such twins apart.  The test counts DMA API debugging's error_count
 * and reads the kernel log (/dev/kmsg) from its start to its end, and fails
 * on any DMA-API error, WARNING or BUG in that time.  Without DMA API
 * debugging (no /sys/kernel/debug/dma-api) it cannot see the race: SKIP.
 *
 * Prints TAP; exit 0 pass, 1 fail, 2 usage, 4 skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <liburing.h>
#include "rig-util.h"

#define MIB		(1024UL * 1024UL)
#define BUF_SIZE	(16 * MIB)
#define SLOTS		4
#define SYNC_THREADS	2
#define IO_SIZE		(64 * 1024)
#define DMA_API		"/sys/kernel/debug/dma-api"
#define BUFINFO		"/sys/kernel/debug/dma_buf/bufinfo"
#define RELEASE_S	10	/* for the unmap workers to let go of the buffer */
#define MIN_ROUNDS	5

static atomic_bool stop;
static atomic_ulong nr_syncs;
static atomic_int sync_errno;
static int tap_n, failed;

static void tap(int ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failed = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A u32 or a bool (Y/N: 1/0) from DMA API debugging's debugfs, or -1. */
static long dma_api_read(const char *name)
{
	char path[128], word[32];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), DMA_API "/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%31s", word) == 1) {
		if (!strcmp(word, "Y") || !strcmp(word, "N"))
			v = word[0] == 'Y';
		else if (sscanf(word, "%ld", &v) != 1)
			v = -1;
	}
	fclose(f);
	return v;
}

/*
 * How many devices the dma-buf with inode @ino has attached, from debugfs'
 * bufinfo: "size flags mode count exp_name ino name", fence lines,
 * "Attached Devices:", one line per attachment, "Total N devices attached".
 * -1 if bufinfo or the buffer cannot be found.
 */
static int attached(unsigned long long ino)
{
	char line[512];
	int found = 0, n = -1;
	FILE *f = fopen(BUFINFO, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long i;
		char name[128];

		if (!found) {
			found = sscanf(line, "%*s %*s %*s %*s %127s %llu", name, &i) == 2 &&
				i == ino;
			continue;
		}
		if (sscanf(line, "Total %d devices attached", &n) == 1)
			break;
	}
	fclose(f);
	return n;
}

/* Wait until the dma-buf has no attachment left: 0, or -ETIMEDOUT/-ENOENT. */
static int wait_released(unsigned long long ino)
{
	double t0 = now();
	int n;

	while ((n = attached(ino)) > 0 && now() - t0 < RELEASE_S)
		usleep(1000);
	if (n < 0)
		return -ENOENT;
	return n ? -ETIMEDOUT : 0;
}

struct sync_arg {
	int fd;
	unsigned char *map;
	unsigned int first;
};

/* DMA_BUF_IOCTL_SYNC without pause: start/end of read, write, read+write. */
static void *sync_thread(void *p)
{
	static const uint64_t dirs[] = {
		DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW,
	};
	struct sync_arg *a = p;
	unsigned int i = a->first;

	while (!atomic_load(&stop)) {
		uint64_t dir = dirs[i++ % 3];
		struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_START | dir };

		if (ioctl(a->fd, DMA_BUF_IOCTL_SYNC, &s) && errno != EINTR && errno != EAGAIN) {
			atomic_store(&sync_errno, errno);
			break;
		}
		if (dir & DMA_BUF_SYNC_WRITE)
			a->map[(i * 4096) % BUF_SIZE] = i;
		s.flags = DMA_BUF_SYNC_END | dir;
		if (ioctl(a->fd, DMA_BUF_IOCTL_SYNC, &s) && errno != EINTR && errno != EAGAIN) {
			atomic_store(&sync_errno, errno);
			break;
		}
		atomic_fetch_add(&nr_syncs, 2);
	}
	return NULL;
}

/* Empty slots [0, SLOTS) (iov NULL) or fill them with @iov: SLOTS or -errno. */
static int update_slots(struct io_uring *ring, struct iovec *iov)
{
	struct iovec iovs[SLOTS];
	int i;

	for (i = 0; i < SLOTS; i++)
		iovs[i] = iov ? *iov : (struct iovec){ NULL, 0 };
	return io_uring_register_buffers_update_tag(ring, 0, iovs, NULL, SLOTS);
}

/* One READ_FIXED of IO_SIZE into the buffer of @slot: the result. */
static int read_fixed(struct io_uring *ring, int fd, int slot, uint64_t boff, uint64_t off)
{
	return uring_rw(ring, fd, (void *)(uintptr_t)boff, IO_SIZE, off, 0, slot);
}

/*
 * The kernel log since @fd was opened at its end: print and count the
 * records that report a DMA API error, a warning or a bug.
 */
static int kmsg_reports(int fd)
{
	static const char *const pats[] = {
		"DMA-API", "has not allocated", "WARNING:", "BUG:",
	};
	char rec[8192];
	int n = 0, shown = 0;

	for (;;) {
		ssize_t len = read(fd, rec, sizeof(rec) - 1);
		const char *msg;
		unsigned int i;

		if (len < 0 && errno == EPIPE)	/* overwritten records: go on */
			continue;
		if (len <= 0)
			break;
		rec[len] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
			if (!strstr(msg, pats[i]))
				continue;
			n++;
			if (shown++ < 12)
				printf("# kernel: %.*s\n", (int)strcspn(msg, "\n"), msg);
			break;
		}
	}
	return n;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s DEVICE [SECONDS]\n"
		"  DEVICE   an NVMe namespace (only read), e.g. /dev/nvme0n1\n"
		"  SECONDS  how long to race (1-600, default 6)\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct dma_heap_allocation_data alloc = {
		.len = BUF_SIZE, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	unsigned long rounds = 0, ios = 0, regs = 0, modes[3] = { 0 };
	struct sync_arg sargs[SYNC_THREADS];
	pthread_t threads[SYNC_THREADS];
	long errs0, errs1, seconds = 6;
	unsigned long long ino;
	struct io_uring ring;
	struct iovec uiov;
	struct stat st;
	double t0, t;
	int fd, heap, kmsg, ret, i, n;
	unsigned char *map;
	char *end;

	if (argc < 2 || argc > 3)
		usage(argv[0]);
	if (argc == 3) {
		errno = 0;
		seconds = strtol(argv[2], &end, 10);
		if (errno || *end || seconds < 1 || seconds > 600)
			usage(argv[0]);
	}

	printf("TAP version 13\n1..3\n");
	errs0 = dma_api_read("error_count");
	if (errs0 < 0 || dma_api_read("disabled") != 0) {
		printf("# SKIP DMA API debugging is off or disabled (%s): the race cannot be seen\n",
		       DMA_API);
		return 4;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		printf("# %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap < 0 || ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc)) {
		printf("# SKIP no system dma-heap buffer: %s\n", strerror(errno));
		return 4;
	}
	close(heap);
	if (fstat(alloc.fd, &st) || attached(st.st_ino) != 0) {
		printf("# SKIP the dma-buf is not in %s: its attachments cannot be counted\n",
		       BUFINFO);
		return 4;
	}
	ino = st.st_ino;
	map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, alloc.fd, 0);
	if (map == MAP_FAILED) {
		printf("# mmap of the dma-buf: %s\n", strerror(errno));
		return 1;
	}
	uiov.iov_len = IO_SIZE;
	uiov.iov_base = aligned_alloc(4096, IO_SIZE);
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret || !uiov.iov_base) {
		printf("# io_uring_queue_init: %s\n", strerror(-ret));
		return 1;
	}
	ret = io_uring_register_buffers_sparse(&ring, SLOTS);
	if (ret) {
		printf("# sparse buffer table: %s\n", strerror(-ret));
		return 1;
	}
	ret = io_uring_register_buffer_dmabuf(&ring, 0, alloc.fd, fd, 0, 0, 0);
	if (ret == -EINVAL) {
		printf("# SKIP this kernel has no dma-buf registration (IORING_REGISTER_BUFFERS_DESC)\n");
		return 4;
	}
	ret = ret ? ret : read_fixed(&ring, fd, 0, 0, 0);
	ret = ret == IO_SIZE ? update_slots(&ring, NULL) : ret;
	ret = ret == SLOTS ? wait_released(ino) : ret < 0 ? ret : -EIO;
	tap(ret == 0, "a %lu MiB system-heap dma-buf registers against %s and reads (%s)",
	    BUF_SIZE / MIB, argv[1], ret < 0 ? strerror(-ret) : "ok");
	if (ret)
		return 1;

	/* the kernel log from here on */
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg < 0 || lseek(kmsg, 0, SEEK_END) < 0) {
		printf("# /dev/kmsg: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < SYNC_THREADS; i++) {
		sargs[i] = (struct sync_arg){ alloc.fd, map, i };
		if (pthread_create(&threads[i], NULL, sync_thread, &sargs[i])) {
			printf("# pthread_create failed\n");
			return 1;
		}
	}

	t0 = now();
	ret = 0;
	while (!ret && now() - t0 < seconds && !atomic_load(&sync_errno)) {
		int mode = rounds % 3, slot = rounds % SLOTS;

		for (i = 0; i < SLOTS && !ret; i++) {
			ret = io_uring_register_buffer_dmabuf(&ring, i, alloc.fd, fd, 0, 0, 0);
			if (ret)
				printf("# round %lu: register in slot %d: %s\n", rounds, i, strerror(-ret));
			else
				regs++;
		}
		if (ret)
			break;
		ret = read_fixed(&ring, fd, slot, (rounds * IO_SIZE) % BUF_SIZE,
				 (rounds * IO_SIZE) % (64 * MIB));
		if (ret != IO_SIZE) {
			printf("# round %lu: READ_FIXED into slot %d: %d\n", rounds, slot, ret);
			ret = ret < 0 ? ret : -EIO;
			break;
		}
		ios++;
		switch (mode) {
		case 0:		/* the whole table, then a new one */
			ret = io_uring_unregister_buffers(&ring);
			ret = ret ? ret : io_uring_register_buffers_sparse(&ring, SLOTS);
			break;
		case 1:		/* each slot to empty */
			ret = update_slots(&ring, NULL);
			ret = ret == SLOTS ? 0 : ret;
			break;
		case 2:		/* each slot to a user buffer, then empty */
			ret = update_slots(&ring, &uiov);
			ret = ret == SLOTS ? update_slots(&ring, NULL) : ret;
			ret = ret == SLOTS ? 0 : ret;
			break;
		}
		if (ret) {
			printf("# round %lu: taking the registrations out (mode %d): %s\n",
			       rounds, mode, strerror(-ret));
			break;
		}
		ret = wait_released(ino);
		if (ret) {
			printf("# round %lu: the dma-buf still has %d attachments after %d s\n",
			       rounds, attached(ino), RELEASE_S);
			break;
		}
		modes[mode]++;
		rounds++;
	}
	t = now() - t0;
	atomic_store(&stop, true);
	for (i = 0; i < SYNC_THREADS; i++)
		pthread_join(threads[i], NULL);
	io_uring_queue_exit(&ring);
	munmap(map, BUF_SIZE);
	close(alloc.fd);
	close(fd);

	printf("# %.1f s: %lu rounds (%lu unregister, %lu update to empty, %lu update to a user buffer), %lu registrations, %lu READ_FIXED, %lu syncs\n",
	       t, rounds, modes[0], modes[1], modes[2], regs, ios, atomic_load(&nr_syncs));
	if (atomic_load(&sync_errno))
		printf("# DMA_BUF_IOCTL_SYNC: %s\n", strerror(atomic_load(&sync_errno)));
	tap(!ret && !atomic_load(&sync_errno) && rounds >= MIN_ROUNDS &&
	    atomic_load(&nr_syncs) >= 100 * SYNC_THREADS,
	    "registrations in %d slots taken out %lu times while DMA_BUF_IOCTL_SYNC ran %lu times",
	    SLOTS, rounds, atomic_load(&nr_syncs));

	/* the unmap workers may still run: let them finish before looking */
	usleep(200 * 1000);
	n = kmsg_reports(kmsg);
	errs1 = dma_api_read("error_count");
	tap(!n && errs1 == errs0,
	    "no DMA-API error, WARNING or BUG in the kernel log (%d reports, DMA-API error_count %ld -> %ld)",
	    n, errs0, errs1);
	return failed;
}
