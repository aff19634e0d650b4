// SPDX-License-Identifier: GPL-2.0
/*
 * Rig smoke test: proves in the guest that what the dma-buf read/write tests
 * stand on works on the kernel under test, before any of the series exists.
 *
 *  - an NVMe namespace is present as a block device;
 *  - io_uring O_DIRECT writes then reads of a pattern on it verify, with plain
 *    and with registered (fixed) buffers, for sizes from one logical block to
 *    more than the controller's MDTS;
 *  - a dma-buf can be allocated from /dev/dma_heap/system and from
 *    /dev/udmabuf, mmap'ed, and accessed with DMA_BUF_IOCTL_SYNC.
 *
 * The namespace is taken from $RIG_NVME (default /dev/nvme0n1); its content is
 * overwritten.
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
#include <sys/stat.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/fs.h>
#include <linux/udmabuf.h>
#include <liburing.h>

#include "kselftest_harness.h"
#include "rig-util.h"

#define MIB (1024UL * 1024UL)

static const char *nvme_path(void)
{
	const char *p = getenv("RIG_NVME");

	return p ? p : "/dev/nvme0n1";
}

TEST(nvme_present)
{
	struct stat st;
	int fd, lbs = 0;
	unsigned long long bytes = 0;

	ASSERT_EQ(0, stat(nvme_path(), &st)) TH_LOG("%s: %s", nvme_path(), strerror(errno));
	ASSERT_TRUE(S_ISBLK(st.st_mode));
	fd = open(nvme_path(), O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BLKSSZGET, &lbs));
	ASSERT_EQ(0, ioctl(fd, BLKGETSIZE64, &bytes));
	EXPECT_TRUE(lbs == 512 || lbs == 4096);
	EXPECT_LE(64 * MIB, bytes);
	TH_LOG("%s: %llu bytes, %d-byte logical blocks", nvme_path(), bytes, lbs);
	close(fd);
}

/*
 * The run asked for an IOMMU (intel_iommu=on on the command line): the NVMe
 * controller must really sit behind it, in a DMA-translating domain, so that
 * the "IOMMU strict" runs are what they claim to be.
 */
TEST(iommu_as_asked)
{
	char cmdline[4096] = "", type[64] = "";
	int on, fd;
	ssize_t n;
	FILE *f;

	fd = open("/proc/cmdline", O_RDONLY);
	ASSERT_LE(0, fd);
	n = read(fd, cmdline, sizeof(cmdline) - 1);
	ASSERT_LT(0, n);
	close(fd);
	on = strstr(cmdline, "intel_iommu=on") != NULL;

	f = fopen("/sys/class/nvme/nvme0/device/iommu_group/type", "r");
	if (!on) {
		EXPECT_EQ(NULL, f) TH_LOG("no IOMMU asked for, but nvme0 has an IOMMU group");
		if (f)
			fclose(f);
		return;
	}
	ASSERT_NE(NULL, f) TH_LOG("intel_iommu=on, but nvme0 is in no IOMMU group");
	ASSERT_NE(NULL, fgets(type, sizeof(type), f));
	fclose(f);
	/* DMA = strict, DMA-FQ = lazy (flush queue). */
	if (strstr(cmdline, "iommu.strict=1")) {
		EXPECT_EQ(0, strcmp(type, "DMA\n")) TH_LOG("domain type %s", type);
	} else if (strstr(cmdline, "iommu.strict=0")) {
		EXPECT_EQ(0, strcmp(type, "DMA-FQ\n")) TH_LOG("domain type %s", type);
	}
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

#define ODIRECT_MAX (4 * MIB)

FIXTURE_SETUP(odirect)
{
	struct iovec iov[2];

	self->fd = open(nvme_path(), O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", nvme_path(), strerror(errno));
	ASSERT_EQ(0, io_uring_queue_init(8, &self->ring, 0));
	ASSERT_EQ(0, posix_memalign(&self->wbuf, 4096, ODIRECT_MAX));
	ASSERT_EQ(0, posix_memalign(&self->rbuf, 4096, ODIRECT_MAX));
	if (variant->fixed) {
		iov[0] = (struct iovec){ self->wbuf, ODIRECT_MAX };
		iov[1] = (struct iovec){ self->rbuf, ODIRECT_MAX };
		ASSERT_EQ(0, io_uring_register_buffers(&self->ring, iov, 2));
	}
}

FIXTURE_TEARDOWN(odirect)
{
	io_uring_queue_exit(&self->ring);
	free(self->wbuf);
	free(self->rbuf);
	close(self->fd);
}

TEST_F(odirect, write_read_verify)
{
	/* One logical block up to more than MDTS (512 KiB on QEMU's NVMe). */
	static const unsigned int sizes[] = { 4096, 65536, 1 << 20, 4 << 20 };
	off_t off = 0;
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
		ASSERT_EQ(-1, d) TH_LOG("len %u at %lld: first difference at byte %ld",
					len, (long long)off, d);
		off += len + 4096;
	}
}

/* Write a pattern through a dma-buf's mapping, read it back through a new one. */
static void check_dmabuf_cpu_access(struct __test_metadata *_metadata, int dbuf,
				    size_t len)
{
	struct dma_buf_sync sync = { 0 };
	void *map, *ref;

	ref = malloc(len);
	ASSERT_NE(NULL, ref);
	fill_pattern(ref, len, len);

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map) TH_LOG("mmap: %s", strerror(errno));
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE;
	ASSERT_EQ(0, ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &sync));
	memcpy(map, ref, len);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE;
	ASSERT_EQ(0, ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &sync));
	ASSERT_EQ(0, munmap(map, len));

	map = mmap(NULL, len, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
	ASSERT_EQ(0, ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ(-1, first_diff(map, ref, len));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	ASSERT_EQ(0, ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &sync));
	munmap(map, len);
	free(ref);
}

TEST(dma_heap_system)
{
	struct dma_heap_allocation_data alloc = {
		.len = 4 * MIB,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	int heap;

	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, heap) TH_LOG("/dev/dma_heap/system: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc)) TH_LOG("alloc: %s", strerror(errno));
	close(heap);
	check_dmabuf_cpu_access(_metadata, alloc.fd, alloc.len);
	close(alloc.fd);
}

TEST(udmabuf)
{
	const size_t len = 4 * MIB;
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = len };
	unsigned char *mem;
	int memfd, dev, dbuf;
	void *map;

	memfd = memfd_create("rig-smoke", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, len));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev) TH_LOG("/dev/udmabuf: %s", strerror(errno));
	create.memfd = memfd;
	dbuf = ioctl(dev, UDMABUF_CREATE, &create);
	ASSERT_LE(0, dbuf) TH_LOG("UDMABUF_CREATE: %s", strerror(errno));
	close(dev);

	check_dmabuf_cpu_access(_metadata, dbuf, len);

	/* The dma-buf is the memfd's pages: the pattern is visible there too. */
	mem = mmap(NULL, len, PROT_READ, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	map = malloc(len);
	ASSERT_NE(NULL, map);
	fill_pattern(map, len, len);
	EXPECT_EQ(-1, first_diff(mem, map, len));
	free(map);
	munmap(mem, len);
	close(dbuf);
	close(memfd);
}

TEST_HARNESS_MAIN
