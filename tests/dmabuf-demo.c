// SPDX-License-Identifier: GPL-2.0
/*
 * The demo of `make run`: register a dma-buf from /dev/dma_heap/system
 * against the NVMe namespace, write a pattern from it with WRITE_FIXED, read
 * it back into a second dma-buf with READ_FIXED, verify through mmap (with
 * DMA_BUF_IOCTL_SYNC) and against a plain O_DIRECT read; then compare 4 KiB
 * random reads at QD 32 with plain buffers, registered user buffers and a
 * registered dma-buf.  Prints TAP; exits 4 (skip) on a kernel without
 * dma-buf registration.  The comparison is labelled with $RIG_KERNEL
 * (tests/guest/kernel-label.sh: the kernel and its debugging), or with the
 * kernel release alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <liburing.h>

#include "rig-util.h"

#define MIB		(1024UL * 1024UL)
#define BUF_SIZE	(8 * MIB)
#define DEMO_LEN	(2 * MIB)
#define QD		32
#define NR_IOS		4000
#define IO_SIZE		4096
#define SPAN		(256 * MIB)

static int tap_n;

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
}

static int heap_alloc(size_t len)
{
	struct dma_heap_allocation_data a = { .len = len, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	if (heap < 0)
		return -errno;
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a)) {
		close(heap);
		return -errno;
	}
	close(heap);
	return a.fd;
}

static void sync_buf(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* 4 KiB random reads at QD 32; mode 0 plain, 1 fixed user, 2 fixed dma-buf. */
static int bench(struct io_uring *ring, int fd, int mode, void *mem, double *iops,
		 double *cpu_us)
{
	unsigned int submitted = 0, done = 0, inflight = 0;
	uint64_t x = 88172645463325252ull;
	double t0 = now(), c0 = cpu_now();

	while (done < NR_IOS) {
		while (inflight < QD && submitted < NR_IOS) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			uint64_t off, boff = (submitted % QD) * IO_SIZE;

			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			off = (x % (SPAN / IO_SIZE)) * IO_SIZE;
			if (mode == 0)
				io_uring_prep_read(sqe, fd, (char *)mem + boff, IO_SIZE, off);
			else if (mode == 1)
				io_uring_prep_read_fixed(sqe, fd, (char *)mem + boff, IO_SIZE, off, 1);
			else
				io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)boff, IO_SIZE, off, 0);
			submitted++;
			inflight++;
		}
		io_uring_submit(ring);
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(ring, &cqe))
			return -1;
		if (cqe->res != IO_SIZE) {
			fprintf(stderr, "# bench mode %d: res %d\n", mode, cqe->res);
			return -1;
		}
		io_uring_cqe_seen(ring, cqe);
		inflight--;
		done++;
	}
	*iops = NR_IOS / (now() - t0);
	*cpu_us = (cpu_now() - c0) * 1e6 / NR_IOS;
	return 0;
}

/* "41.2 k IOPS", "872 IOPS" */
static const char *fmt_iops(char *buf, size_t len, double iops)
{
	if (iops >= 1000)
		snprintf(buf, len, "%.1f k IOPS", iops / 1000);
	else
		snprintf(buf, len, "%.0f IOPS", iops);
	return buf;
}

/* "1,117 us", "31.6 us" */
static const char *fmt_us(char *buf, size_t len, double us)
{
	long n = (long)(us + 0.5);

	if (us < 100)
		snprintf(buf, len, "%.1f us", us);
	else if (n >= 1000)
		snprintf(buf, len, "%ld,%03ld us", n / 1000, n % 1000);
	else
		snprintf(buf, len, "%ld us", n);
	return buf;
}

static void print_comparison(const double *iops, const double *cpu)
{
	static const char *const name[] = {
		"plain O_DIRECT", "registered (fixed)", "registered dma-buf"
	};
	const char *kernel = getenv("RIG_KERNEL");
	char a[32], b[32];
	struct utsname u;
	int i;

	if (!kernel || !*kernel)
		kernel = uname(&u) ? "?" : u.release;
	printf("# 4 KiB random reads, QD %d, %d I/Os per mode, on kernel %s:\n",
	       QD, NR_IOS, kernel);
	printf("# %-20s %13s %12s %13s\n", "buffers", "", "CPU per I/O", "CPU vs plain");
	for (i = 0; i < 3; i++)
		printf("# %-20s %13s %12s %12.2fx\n", name[i], fmt_iops(a, sizeof(a), iops[i]),
		       fmt_us(b, sizeof(b), cpu[i]), cpu[i] / cpu[0]);
	if (strstr(kernel, "debugging"))
		printf("# Debugging weighs on each kind of buffer differently: these are not the\n"
		       "# series' costs.  The benchmark kernel's figures come from make bench.\n");
	else
		printf("# Emulated NVMe under QEMU, wall-clock time: read the ratios, not the\n"
		       "# figures; make bench counts the kernel's instructions per I/O.\n");
}

int main(void)
{
	const char *dev = getenv("RIG_NVME") ? getenv("RIG_NVME") : "/dev/nvme0n1";
	unsigned char *src, *dst, *ref;
	double iops[3], cpu[3];
	int fd, a, b, ret, i;
	struct io_uring ring;
	struct iovec iov;
	void *umem;

	printf("TAP version 13\n1..6\n");
	fd = open(dev, O_RDWR | O_DIRECT);
	a = heap_alloc(BUF_SIZE);
	b = heap_alloc(BUF_SIZE);
	if (fd < 0 || a < 0 || b < 0 || io_uring_queue_init(QD * 2, &ring, 0)) {
		printf("# setup failed: %s\n", strerror(errno));
		return 1;
	}
	ret = io_uring_register_buffers_sparse(&ring, 4);
	if (ret) {
		printf("# sparse buffer table: %s\n", strerror(-ret));
		return 1;
	}
	/* the whole dma-buf (offset 0, length 0: to its end) for the namespace */
	ret = io_uring_register_buffer_dmabuf(&ring, 0, a, fd, 0, 0, 0);
	if (ret == -EINVAL) {
		printf("# SKIP this kernel has no dma-buf registration (IORING_REGISTER_BUFFERS_DESC)\n");
		return 4;
	}
	tap(ret == 0, "register a dma-heap dma-buf against %s (%s)", dev, strerror(-ret));
	ret = io_uring_register_buffer_dmabuf(&ring, 2, b, fd, 0, 0, 0);
	if (ret)
		return 1;

	src = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	dst = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	ref = aligned_alloc(4096, DEMO_LEN);
	sync_buf(a, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	fill_pattern(src, DEMO_LEN, getpid());
	sync_buf(a, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);

	ret = uring_rw(&ring, fd, NULL, DEMO_LEN, 0, 1, 0);
	tap(ret == DEMO_LEN, "WRITE_FIXED %lu bytes from the dma-buf (res %d)", DEMO_LEN, ret);
	ret = uring_rw(&ring, fd, NULL, DEMO_LEN, 0, 0, 2);
	tap(ret == DEMO_LEN, "READ_FIXED %lu bytes into another dma-buf (res %d)", DEMO_LEN, ret);
	sync_buf(b, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	ret = memcmp(src, dst, DEMO_LEN);
	sync_buf(b, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
	tap(ret == 0, "the data read back equals the data written");
	ret = pread(fd, ref, DEMO_LEN, 0);
	tap(ret == DEMO_LEN && !memcmp(ref, src, DEMO_LEN),
	    "a plain O_DIRECT read of the same blocks returns the same data");

	umem = aligned_alloc(4096, QD * IO_SIZE);
	iov = (struct iovec){ umem, QD * IO_SIZE };
	ret = io_uring_register_buffers_update_tag(&ring, 1, &iov, NULL, 1);
	ret = ret == 1 ? 0 : ret;
	for (i = 0; i < 3 && !ret; i++)
		ret = bench(&ring, fd, i, umem, &iops[i], &cpu[i]);
	tap(ret == 0, "4 KiB random reads, QD %d, %d I/Os per mode", QD, NR_IOS);
	if (!ret)
		print_comparison(iops, cpu);
	io_uring_queue_exit(&ring);
	return 0;
}
