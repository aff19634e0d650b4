// SPDX-License-Identifier: GPL-2.0
/*
 * dma-buf registration under swiotlb=force (as in confidential guests, or
 * with DMA masks too narrow for the memory): every streaming DMA mapping of
 * the NVMe device is bounced, so a dma-buf mapped once at registration would
 * need a DMA sync per I/O, which dma-buf I/O never does: reads would land in
 * the bounce buffer and writes send what it held at registration.  The
 * kernel must refuse the registration with EOPNOTSUPP and change nothing,
 * while plain and registered user buffers keep working (bounced per I/O).
 *
 *  - swiotlb is really forced: the bounce pool's high-water mark grows with
 *    one O_DIRECT write (the boot gives swiotlb=force,track_hiwater);
 *  - plain and fixed-buffer (IORING_REGISTER_BUFFERS) O_DIRECT writes and
 *    reads verify;
 *  - a dma-buf from /dev/dma_heap/system and one from /dev/udmabuf are
 *    refused with EOPNOTSUPP; no bounce slot stays used; the slot stays
 *    empty (READ_FIXED on it fails with EFAULT) and a user buffer registered
 *    into it afterwards works.
 *
 * Writes to the namespace named by $RIG_NVME (the rig's suite sets it to
 * /dev/nvme0n1); without it every test skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <liburing.h>

#include "kselftest_harness.h"
#include "rig-util.h"

#define KIB		1024UL
#define MIB		(1024UL * KIB)
#define SWIOTLB		"/sys/kernel/debug/swiotlb/"
#define IO_MAX		(4 * MIB)
/* Disk areas of the tests, apart from each other. */
#define OFF_FORCED	(0 * 64 * MIB)
#define OFF_ODIRECT	(1 * 64 * MIB)
#define OFF_DMABUF	(2 * 64 * MIB)

static const char *nvme_path(struct __test_metadata *_metadata)
{
	const char *p = getenv("RIG_NVME");

	if (!p)
		SKIP(return NULL, "RIG_NVME names no namespace to overwrite");
	return p;
}

static long swiotlb_read(const char *name)
{
	char path[128], buf[32] = "";
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), SWIOTLB "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 0);
	fclose(f);
	return v;
}

/*
 * The test is about bounced DMA: prove that this boot bounces the NVMe
 * device's DMA, so that nothing below can pass without it.
 */
TEST(swiotlb_forced)
{
	const char *dev = nvme_path(_metadata);
	char cmdline[4096] = "";
	struct io_uring ring;
	long hiwater;
	void *buf;
	FILE *f;
	int fd;

	if (!dev)
		return;
	f = fopen("/proc/cmdline", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(cmdline, sizeof(cmdline), f));
	fclose(f);
	ASSERT_NE(NULL, strstr(cmdline, "swiotlb=force"))
		TH_LOG("the boot does not force swiotlb: %s", cmdline);
	ASSERT_LE(0, swiotlb_read("io_tlb_used_hiwater"))
		TH_LOG("no " SWIOTLB "io_tlb_used_hiwater: %s", strerror(errno));

	fd = open(dev, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", dev, strerror(errno));
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ASSERT_EQ(0, posix_memalign(&buf, 4096, 256 * KIB));
	fill_pattern(buf, 256 * KIB, 1);

	/* Only a value of 0 is accepted: it resets the mark. */
	f = fopen(SWIOTLB "io_tlb_used_hiwater", "w");
	ASSERT_NE(NULL, f);
	ASSERT_LT(0, fputs("0\n", f));
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(256 * KIB, uring_rw(&ring, fd, buf, 256 * KIB, OFF_FORCED, 1, -1));
	hiwater = swiotlb_read("io_tlb_used_hiwater");
	/*
	 * Slots of 2 KiB: the write takes 128, at least 64 at once (it is split
	 * at swiotlb's largest mapping, 256 KiB less the device's alignment).
	 */
	EXPECT_LE(64, hiwater)
		TH_LOG("a 256 KiB O_DIRECT write took %ld swiotlb slots: not bounced", hiwater);
	TH_LOG("swiotlb: %ld slots, high-water mark %ld after one 256 KiB write",
	       swiotlb_read("io_tlb_nslabs"), hiwater);
	io_uring_queue_exit(&ring);
	free(buf);
	close(fd);
}

FIXTURE(odirect) {
	struct io_uring ring;
	int fd;
	void *wbuf, *rbuf;
};

FIXTURE_VARIANT(odirect) {
	int fixed;
};

FIXTURE_VARIANT_ADD(odirect, plain) { .fixed = 0 };
FIXTURE_VARIANT_ADD(odirect, fixed) { .fixed = 1 };

FIXTURE_SETUP(odirect)
{
	const char *dev = nvme_path(_metadata);
	struct iovec iov[2];

	self->fd = -1;
	if (!dev)
		return;
	self->fd = open(dev, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", dev, strerror(errno));
	ASSERT_EQ(0, io_uring_queue_init(8, &self->ring, 0));
	ASSERT_EQ(0, posix_memalign(&self->wbuf, 4096, IO_MAX));
	ASSERT_EQ(0, posix_memalign(&self->rbuf, 4096, IO_MAX));
	if (variant->fixed) {
		iov[0] = (struct iovec){ self->wbuf, IO_MAX };
		iov[1] = (struct iovec){ self->rbuf, IO_MAX };
		ASSERT_EQ(0, io_uring_register_buffers(&self->ring, iov, 2));
	}
}

FIXTURE_TEARDOWN(odirect)
{
	if (self->fd < 0)
		return;
	io_uring_queue_exit(&self->ring);
	free(self->wbuf);
	free(self->rbuf);
	close(self->fd);
}

/* Bounced per I/O, plain and registered user buffers still carry the data. */
TEST_F(odirect, write_read_verify)
{
	/* One block to more than swiotlb's largest mapping (256 KiB) and MDTS. */
	static const unsigned int sizes[] = { 4096, 64 * KIB, 1 * MIB, 4 * MIB };
	off_t off = OFF_ODIRECT + variant->fixed * 16 * MIB;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned int len = sizes[i];
		long d;

		fill_pattern(self->wbuf, len, getpid() + i);
		memset(self->rbuf, 0xa5, len);
		ASSERT_EQ((int)len, uring_rw(&self->ring, self->fd, self->wbuf, len,
					     off, 1, variant->fixed ? 0 : -1));
		ASSERT_EQ((int)len, uring_rw(&self->ring, self->fd, self->rbuf, len,
					     off, 0, variant->fixed ? 1 : -1));
		d = first_diff(self->wbuf, self->rbuf, len);
		ASSERT_EQ(-1, d) TH_LOG("%s, %u bytes at %lld: first difference at byte %ld",
					variant->fixed ? "fixed" : "plain", len,
					(long long)off, d);
		off += len + 4096;
	}
}

FIXTURE(dmabuf) {
	struct io_uring ring;
	int fd, dbuf, memfd;
	void *buf;
};

FIXTURE_VARIANT(dmabuf) {
	int udmabuf;
	size_t len;
	int big;	/* the exporter may fail to map it first, with EIO */
};

/* 256 KiB: four 64 KiB heap pages, each within what swiotlb can bounce. */
FIXTURE_VARIANT_ADD(dmabuf, heap) { .udmabuf = 0, .len = 256 * KIB };
FIXTURE_VARIANT_ADD(dmabuf, udmabuf) { .udmabuf = 1, .len = 256 * KIB };
/*
 * 4 MiB: the heap's 1 MiB pages are larger than swiotlb's largest mapping
 * (256 KiB), so the heap itself fails to map them (EIO), unless it had to
 * make do with smaller pages; refused either way.
 */
FIXTURE_VARIANT_ADD(dmabuf, heap_4m) { .udmabuf = 0, .len = 4 * MIB, .big = 1 };

static int heap_alloc(size_t len)
{
	struct dma_heap_allocation_data a = { .len = len, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	if (heap < 0)
		return -1;
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a)) {
		close(heap);
		return -1;
	}
	close(heap);
	return a.fd;
}

static int udmabuf_alloc(size_t len, int *memfd)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = len };
	int dev, fd;

	*memfd = memfd_create("swiotlb-refuse", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (*memfd < 0 || ftruncate(*memfd, len) ||
	    fcntl(*memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return -1;
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	c.memfd = *memfd;
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	close(dev);
	return fd;
}

FIXTURE_SETUP(dmabuf)
{
	const char *dev = nvme_path(_metadata);

	self->fd = -1;
	self->memfd = -1;
	if (!dev)
		return;
	self->fd = open(dev, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", dev, strerror(errno));
	ASSERT_EQ(0, io_uring_queue_init(8, &self->ring, 0));
	ASSERT_EQ(0, io_uring_register_buffers_sparse(&self->ring, 2));
	ASSERT_EQ(0, posix_memalign(&self->buf, 4096, 2 * variant->len));
	if (variant->udmabuf)
		self->dbuf = udmabuf_alloc(variant->len, &self->memfd);
	else
		self->dbuf = heap_alloc(variant->len);
	ASSERT_LE(0, self->dbuf) TH_LOG("%s: %s",
					variant->udmabuf ? "/dev/udmabuf" : "/dev/dma_heap/system",
					strerror(errno));
}

FIXTURE_TEARDOWN(dmabuf)
{
	if (self->fd < 0)
		return;
	io_uring_queue_exit(&self->ring);
	free(self->buf);
	close(self->dbuf);
	if (self->memfd >= 0)
		close(self->memfd);
	close(self->fd);
}

/*
 * The kernel took a registration that needs per-I/O syncs: show what it
 * does to the data.  The pattern goes into the dma-buf after registration,
 * then WRITE_FIXED sends it and a plain read fetches it back.
 */
static void show_corruption(struct __test_metadata *_metadata,
			    FIXTURE_DATA(dmabuf) *self, size_t len)
{
	struct dma_buf_sync sync = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE };
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->dbuf, 0);
	int ret;

	if (map == MAP_FAILED)
		return;
	ioctl(self->dbuf, DMA_BUF_IOCTL_SYNC, &sync);
	fill_pattern(map, len, 7);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE;
	ioctl(self->dbuf, DMA_BUF_IOCTL_SYNC, &sync);
	ret = uring_rw(&self->ring, self->fd, NULL, len, OFF_DMABUF, 1, 0);
	if (ret == (int)len &&
	    uring_rw(&self->ring, self->fd, self->buf, len, OFF_DMABUF, 0, -1) == (int)len)
		TH_LOG("registered anyway: WRITE_FIXED of %zu bytes from it, read back: "
		       "first difference at byte %ld", len, first_diff(map, self->buf, len));
	else
		TH_LOG("registered anyway: WRITE_FIXED from it gave %d", ret);
	munmap(map, len);
}

TEST_F(dmabuf, refused_changes_nothing)
{
	size_t len = variant->len;
	struct iovec iov;
	__u64 tag = 0;
	long used;
	int ret;

	used = swiotlb_read("io_tlb_used");
	ret = io_uring_register_buffer_dmabuf(&self->ring, 0, self->dbuf, self->fd, 0, 0, 0);
	if (ret == 0)
		show_corruption(_metadata, self, len);
	if (variant->big && ret == -EIO) {
		TH_LOG("the exporter could not map %zu bytes for the device: EIO", len);
	} else {
		ASSERT_EQ(-EOPNOTSUPP, ret)
			TH_LOG("registering a %zu-byte %s dma-buf: %s", len,
			       variant->udmabuf ? "udmabuf" : "dma-heap", strerror(-ret));
	}
	/* The bounce buffers of the refused mapping are given back. */
	EXPECT_EQ(used, swiotlb_read("io_tlb_used"));

	/* The slot is still empty: nothing to read into ... */
	EXPECT_EQ(-EFAULT, uring_rw(&self->ring, self->fd, NULL, 4096, OFF_DMABUF, 0, 0));
	/* ... and user memory registered into it works there. */
	iov.iov_base = self->buf;
	iov.iov_len = 2 * len;
	ASSERT_EQ(1, io_uring_register_buffers_update_tag(&self->ring, 0, &iov, &tag, 1));
	fill_pattern(self->buf, len, 3);
	memset((char *)self->buf + len, 0x5a, len);
	ASSERT_EQ((int)len, uring_rw(&self->ring, self->fd, self->buf, len, OFF_DMABUF, 1, 0));
	ASSERT_EQ((int)len, uring_rw(&self->ring, self->fd, (char *)self->buf + len, len,
				     OFF_DMABUF, 0, 0));
	EXPECT_EQ(-1, first_diff(self->buf, (char *)self->buf + len, len));
}

TEST_HARNESS_MAIN
