// SPDX-License-Identifier: GPL-2.0
/*
 * make bench's P2P part: sequential reads from the NVMe namespace into a PCI
 * BAR (ivshmem 1af4:1110, bound to vfio-pci), either straight through the
 * BAR's dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF, registered with io_uring and
 * read with READ_FIXED) or through a bounce buffer (an O_DIRECT READ_FIXED
 * into registered RAM, then a memcpy into the BAR through vfio's mmap of the
 * region).  Same queue depth, block size and offsets for both.
 *
 *   bench-p2p MODE BS QD COUNT     MODE: dmabuf | bounce
 *
 * Prints one JSON object: {"p2p": {mode, bs, qd, ios, bytes, secs, usr_s,
 * sys_s}}.  Before it measures, it checks that a read through the dma-buf
 * really lands in the BAR (QEMU's NVMe completes a command whose DMA faulted
 * with status 0): the namespace reads as zeros (null-co, read-zeroes=on),
 * the BAR is filled with a pattern first.  Exit 4: no ivshmem device, no
 * vfio, or a kernel without dma-buf registration.
 */
#include <dirent.h>
#include <errno.h>
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
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <liburing.h>

#define SPAN	(1024UL * 1024 * 1024)	/* the namespace: 1 GiB */

static int skip(const char *what)
{
	printf("SKIP %s\n", what);
	return 4;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

static int read_hex(const char *dir, const char *file, unsigned int *v)
{
	char path[1100], buf[32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	*v = strtoul(buf, NULL, 16);
	return 0;
}

/* The ivshmem device's sysfs directory; bound to vfio-pci on return. */
static int find_ivshmem(char *dir, size_t len)
{
	const char *base = "/sys/bus/pci/devices";
	struct dirent *e;
	DIR *d = opendir(base);
	char path[1100];
	int found = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		unsigned int ven, dev;

		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, len, "%s/%s", base, e->d_name);
		if (read_hex(dir, "vendor", &ven) || read_hex(dir, "device", &dev))
			continue;
		if (ven == 0x1af4 && dev == 0x1110) {
			found = 1;
			break;
		}
	}
	closedir(d);
	if (!found)
		return -1;
	snprintf(path, sizeof(path), "%s/vfio-dev", dir);
	if (access(path, F_OK) == 0)
		return 0;	/* bound already (an earlier run) */
	snprintf(path, sizeof(path), "%s/driver_override", dir);
	if (write_str(path, "vfio-pci"))
		return -1;
	snprintf(path, sizeof(path), "%s/driver/unbind", dir);
	if (access(path, F_OK) == 0)
		write_str(path, strrchr(dir, '/') + 1);
	return write_str("/sys/bus/pci/drivers_probe", strrchr(dir, '/') + 1);
}

/* Open the device's vfio cdev, bound to a fresh iommufd IOAS. */
static int open_vfio(const char *dir)
{
	char path[1100], cdev[300] = "";
	struct dirent *e;
	DIR *d;
	int iommufd, fd;

	snprintf(path, sizeof(path), "%s/vfio-dev", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4))
			snprintf(cdev, sizeof(cdev), "/dev/vfio/devices/%s", e->d_name);
	closedir(d);
	if (!cdev[0])
		return -1;
	fd = open(cdev, O_RDWR | O_CLOEXEC);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0 || iommufd < 0)
		return -1;

	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = iommufd };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };

	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) || ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas))
		return -1;

	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = ioas.out_ioas_id };

	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -1;
	return fd;
}

static int bar_dmabuf(int dev, unsigned int region, uint64_t size)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_dma_buf db;
		struct vfio_region_dma_range r;
	} __attribute__((packed)) req = {
		.f = { .argsz = sizeof(req),
		       .flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF },
		.db = { .region_index = region, .open_flags = O_RDWR | O_CLOEXEC, .nr_ranges = 1 },
		.r = { .offset = 0, .length = size },
	};

	return ioctl(dev, VFIO_DEVICE_FEATURE, &req);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cpu(double *usr, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*usr = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	*sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void prep(struct io_uring *ring, int fd, int dmabuf, unsigned char *ram,
		 unsigned int bs, unsigned int slot, uint64_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (dmabuf)	/* slot 0: the BAR's dma-buf; addr = offset inside it */
		io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)((uint64_t)slot * bs),
					 bs, off, 0);
	else		/* slot 1: registered RAM */
		io_uring_prep_read_fixed(sqe, fd, ram + (size_t)slot * bs, bs, off, 1);
	sqe->user_data = slot;
}

int main(int argc, char **argv)
{
	const char *nvme = getenv("RIG_NVME") ? getenv("RIG_NVME") : "/dev/nvme0n1";
	unsigned int bs, qd, count, submitted = 0, done = 0, i;
	double t0, t1, u0, s0, u1, s1;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct iovec iov;
	unsigned char *bar, *ram;
	char dir[1024];
	int dmabuf, dev, fd, buf, ret;
	uint64_t off = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: bench-p2p dmabuf|bounce BS QD COUNT\n");
		return 2;
	}
	dmabuf = !strcmp(argv[1], "dmabuf");
	bs = strtoul(argv[2], NULL, 0);
	qd = strtoul(argv[3], NULL, 0);
	count = strtoul(argv[4], NULL, 0);
	if (!bs || bs % 4096 || !qd || !count)
		return 2;

	if (find_ivshmem(dir, sizeof(dir)))
		return skip("no ivshmem device (1af4:1110) bound to vfio-pci");
	dev = open_vfio(dir);
	if (dev < 0)
		return skip("cannot open the ivshmem device through vfio/iommufd");

	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_BAR2_REGION_INDEX };

	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri) || (uint64_t)bs * qd > ri.size) {
		fprintf(stderr, "BAR2: %s, %llu bytes\n", strerror(errno), (unsigned long long)ri.size);
		return 1;
	}
	bar = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, ri.offset);
	buf = bar_dmabuf(dev, VFIO_PCI_BAR2_REGION_INDEX, ri.size);
	fd = open(nvme, O_RDONLY | O_DIRECT);
	ram = aligned_alloc(4096, (size_t)bs * qd);
	if (bar == MAP_FAILED || buf < 0 || fd < 0 || !ram) {
		fprintf(stderr, "setup: bar %p dma-buf %d nvme %d: %s\n", bar, buf, fd, strerror(errno));
		return 1;
	}
	memset(ram, 0, (size_t)bs * qd);
	if (io_uring_queue_init(qd * 2, &ring, 0) || io_uring_register_buffers_sparse(&ring, 2))
		return 1;
	ret = io_uring_register_buffer_dmabuf(&ring, 0, buf, fd, 0, 0, 0);
	if (ret == -EINVAL)
		return skip("no dma-buf registration in this kernel");
	if (ret) {
		fprintf(stderr, "registering the BAR's dma-buf: %s\n", strerror(-ret));
		return 1;
	}
	iov.iov_base = ram;
	iov.iov_len = (size_t)bs * qd;
	ret = io_uring_register_buffers_update_tag(&ring, 1, &iov, NULL, 1);
	if (ret != 1) {
		fprintf(stderr, "registering RAM: %s\n", strerror(-ret));
		return 1;
	}

	/* Does a read through the dma-buf land in the BAR? */
	memset(bar, 0xa5, bs);
	prep(&ring, fd, 1, ram, bs, 0, 0);
	io_uring_submit(&ring);
	if (io_uring_wait_cqe(&ring, &cqe) || cqe->res != (int)bs) {
		fprintf(stderr, "check read: %d\n", cqe ? cqe->res : -1);
		return 1;
	}
	io_uring_cqe_seen(&ring, cqe);
	for (i = 0; i < bs; i++)
		if (bar[i]) {
			fprintf(stderr, "the read through the dma-buf did not land in the BAR "
				"(byte %u is %#x)\n", i, bar[i]);
			return 1;
		}

	cpu(&u0, &s0);
	t0 = now();
	for (i = 0; i < qd && submitted < count; i++, submitted++) {
		prep(&ring, fd, dmabuf, ram, bs, i, off);
		off = (off + bs) % SPAN;
	}
	io_uring_submit(&ring);
	while (done < count) {
		unsigned int slot;

		if (io_uring_wait_cqe(&ring, &cqe))
			return 1;
		if (cqe->res != (int)bs) {
			fprintf(stderr, "read: %d\n", cqe->res);
			return 1;
		}
		slot = cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
		if (!dmabuf)
			memcpy(bar + (size_t)slot * bs, ram + (size_t)slot * bs, bs);
		done++;
		if (submitted < count) {
			prep(&ring, fd, dmabuf, ram, bs, slot, off);
			off = (off + bs) % SPAN;
			submitted++;
			io_uring_submit(&ring);
		}
	}
	t1 = now();
	cpu(&u1, &s1);
	printf("{\"p2p\": {\"mode\": \"%s\", \"bs\": %u, \"qd\": %u, \"ios\": %u, "
	       "\"bytes\": %llu, \"secs\": %.6f, \"usr_s\": %.6f, \"sys_s\": %.6f}}\n",
	       argv[1], bs, qd, count, (unsigned long long)bs * count, t1 - t0,
	       u1 - u0, s1 - s0);
	return 0;
}
