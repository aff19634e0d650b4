// SPDX-License-Identifier: GPL-2.0
/*
 * P2P between the NVMe namespace and a PCI BAR exported by vfio-pci.
 *
 * The guest has an ivshmem-plain device (1af4:1110) whose BAR 2 is a host
 * file (rig/vm.sh --ivshmem).  The host filled that file with
 * pattern(seed, file offset) before boot and passes the seed on the kernel
 * command line (p2p.seed=N).  This program binds the device to vfio-pci,
 * opens it through iommufd (/dev/vfio/devices/vfioN), exports BAR 2 as a
 * dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF), registers it against the namespace
 * (IORING_REGISTER_BUFFERS_DESC) and:
 *  1. WRITE_FIXED from the BAR (the host's pattern) to the namespace, at
 *     several sizes and BAR offsets at once; the data is read back with
 *     plain O_DIRECT reads and compared;
 *  2. READ_FIXED into the BAR from namespace blocks the guest wrote with
 *     seeded patterns; checked through a mmap of the BAR region and declared
 *     on stdout ("p2p-host: expect ...") for rig/p2p-hostcheck.py, which
 *     verifies the host file after the guest is gone;
 *  3. revokes the dma-buf while many requests are in flight, by clearing
 *     memory decode in the command register through vfio's config region
 *     and by VFIO_DEVICE_RESET: every request must complete, with success
 *     (and verified data) or ENODEV; new I/O while revoked must fail with
 *     ENODEV (Documentation/driver-api/dma-token.rst); once memory decode is
 *     back, I/O works and its data verifies.
 * QEMU's NVMe completes with status 0 even when its DMA faulted, so every
 * success is checked by its data.  Prints TAP; exits 4 (skip) without the
 * device, the seed or dma-buf registration.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <liburing.h>

#define KIB		1024UL
#define MIB		(1024UL * 1024UL)
#define SUB_OFF		(4 * MIB)	/* slot 1: a range of the BAR that starts inside it */
#define SUB_LEN		(4 * MIB)
#define RING_SIZE	256
#define NR_REVOKE_IO	128

struct io {
	int write;		/* WRITE_FIXED from the BAR, else READ_FIXED into it */
	int slot;
	uint64_t boff;		/* offset inside the slot's range */
	uint64_t len;
	uint64_t noff;		/* namespace offset */
	uint32_t seed;		/* reads: the pattern the namespace holds */
	int res;
	int done;
};

static int tap_n, failed;
static unsigned char *bar;	/* BAR 2 through vfio's region mmap */
static uint64_t bar_size;
static uint32_t seed0;
static int nvme, devfd;
static uint64_t cfg_off;
static struct io_uring ring;
static unsigned char *ram;	/* an O_DIRECT bounce buffer */
static uint64_t host_bytes;	/* bytes declared to the host checker */

static void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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
		failed++;
}

/*
 * The pattern shared with rig/p2p-prefill.py and rig/p2p-hostcheck.py: the
 * 64-bit little-endian word at byte offset o of a stream seeded s is
 * ((s << 32) | (o / 8)) * 0x9E3779B97F4A7C15 mod 2^64.
 */
static void fill(void *p, uint64_t len, uint32_t seed, uint64_t base)
{
	uint64_t *w = p, i;

	for (i = 0; i < len / 8; i++)
		w[i] = (((uint64_t)seed << 32) | (uint32_t)(base / 8 + i)) * 0x9E3779B97F4A7C15ull;
}

/* Compare p with the pattern; -1 when it matches, else the first bad offset. */
static int64_t check(const void *p, uint64_t len, uint32_t seed, uint64_t base)
{
	const uint64_t *w = p;
	uint64_t i, v;

	for (i = 0; i < len / 8; i++) {
		v = (((uint64_t)seed << 32) | (uint32_t)(base / 8 + i)) * 0x9E3779B97F4A7C15ull;
		if (w[i] != v)
			return i * 8;
	}
	return -1;
}

static uint64_t bar_off(const struct io *io)
{
	return (io->slot == 1 ? SUB_OFF : 0) + io->boff;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* The first ivshmem device's address into bdf; 0 when found. */
static int find_ivshmem(char *bdf, size_t len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	char p[800], v[32], dv[32];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		if (sysfs_read(p, v, sizeof(v)))
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/device", e->d_name);
		if (sysfs_read(p, dv, sizeof(dv)))
			continue;
		if (!strcmp(v, "0x1af4") && !strcmp(dv, "0x1110")) {
			snprintf(bdf, len, "%s", e->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -1;
}

/* Bind bdf to vfio-pci; return an open fd of its vfio cdev, or -errno. */
static int vfio_bind(const char *bdf)
{
	char p[800], link[512], name[256] = "";
	struct dirent *e;
	ssize_t n;
	DIR *d;
	int ret;

	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(p, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		if (!strstr(link, "/vfio-pci")) {
			snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
			sysfs_write(p, bdf);
		}
	}
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver_override", bdf);
	ret = sysfs_write(p, "vfio-pci");
	if (ret)
		return ret;
	sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(p, link, sizeof(link) - 1);
	if (n <= 0)
		return -ENODEV;
	link[n] = 0;
	if (!strstr(link, "/vfio-pci"))
		return -ENODEV;
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(p);
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4))
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(d);
	if (!name[0])
		return -ENOENT;
	snprintf(p, sizeof(p), "/dev/vfio/devices/%s", name);
	ret = open(p, O_RDWR | O_CLOEXEC);
	return ret < 0 ? -errno : ret;
}

static int cmd_read(uint16_t *cmd)
{
	return pread(devfd, cmd, 2, cfg_off + PCI_COMMAND) == 2 ? 0 : -errno;
}

/* Set or clear memory decode through vfio's config region. */
static int set_memory_decode(int on)
{
	uint16_t cmd;

	if (cmd_read(&cmd))
		return -errno;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	return pwrite(devfd, &cmd, 2, cfg_off + PCI_COMMAND) == 2 ? 0 : -errno;
}

static void prep(const struct io *io, uint64_t tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (io->write)
		io_uring_prep_write_fixed(sqe, nvme, (void *)(uintptr_t)io->boff, io->len,
					  io->noff, io->slot);
	else
		io_uring_prep_read_fixed(sqe, nvme, (void *)(uintptr_t)io->boff, io->len,
					 io->noff, io->slot);
	sqe->user_data = tag;
}

/* Wait until every io of ios[] completed (or timeout); return how many did. */
static int reap(struct io *ios, int nr, double timeout)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	double end = now() + timeout;
	struct io_uring_cqe *cqe;
	int got = 0, i;

	for (i = 0; i < nr; i++)
		got += !!ios[i].done;
	while (got < nr && now() < end) {
		if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
			continue;
		if (cqe->user_data < (uint64_t)nr && !ios[cqe->user_data].done) {
			ios[cqe->user_data].res = cqe->res;
			ios[cqe->user_data].done = 1;
			got++;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	return got;
}

/* Fill the namespace blocks a read will copy into the BAR. */
static int ns_fill(const struct io *io)
{
	fill(ram, io->len, io->seed, 0);
	return pwrite(nvme, ram, io->len, io->noff) == (ssize_t)io->len ? 0 : -errno;
}

/*
 * Check a finished io by its data: a write must have put the BAR's pattern
 * on the namespace, a read must have put the namespace's pattern into the
 * BAR (which is then declared to the host).  Returns 0 when it verifies.
 */
static int verify(const struct io *io, const char *what)
{
	int64_t bad;

	if (io->write) {
		if (pread(nvme, ram, io->len, io->noff) != (ssize_t)io->len) {
			printf("# %s: read back %#lx: %s\n", what, (unsigned long)io->noff,
			       strerror(errno));
			return -1;
		}
		bad = check(ram, io->len, seed0, bar_off(io));
	} else {
		/* the host checks it too, whatever the guest sees */
		printf("p2p-host: expect bar_off=%#lx len=%lu seed=%u\n",
		       (unsigned long)bar_off(io), (unsigned long)io->len, io->seed);
		host_bytes += io->len;
		bad = check(bar + bar_off(io), io->len, io->seed, 0);
	}
	if (bad >= 0)
		printf("# %s: %s bar %#lx len %lu ns %#lx: first bad byte at +%#lx\n", what,
		       io->write ? "write from" : "read into", (unsigned long)bar_off(io),
		       (unsigned long)io->len, (unsigned long)io->noff, (unsigned long)bad);
	return bad >= 0 ? -1 : 0;
}

/* Submit ios[] at once, wait, check every result and every byte. */
static int run_batch(struct io *ios, int nr, const char *what)
{
	int i, got, bad = 0;

	for (i = 0; i < nr; i++) {
		if (!ios[i].write && ns_fill(&ios[i])) {
			printf("# %s: filling the namespace: %s\n", what, strerror(errno));
			return -1;
		}
		ios[i].done = 0;
	}
	for (i = 0; i < nr; i++)
		prep(&ios[i], i);
	io_uring_submit(&ring);
	got = reap(ios, nr, 120);
	if (got < nr) {
		printf("# %s: %d of %d requests did not complete in 120 s\n", what, nr - got, nr);
		return -1;
	}
	for (i = 0; i < nr; i++) {
		if (ios[i].res != (int)ios[i].len) {
			printf("# %s: request %d (%s %lu bytes): res %d (%s)\n", what, i,
			       ios[i].write ? "write" : "read", (unsigned long)ios[i].len,
			       ios[i].res, ios[i].res < 0 ? strerror(-ios[i].res) : "short");
			if (!ios[i].write)
				printf("p2p-host: scratch bar_off=%#lx len=%lu\n",
				       (unsigned long)bar_off(&ios[i]), (unsigned long)ios[i].len);
			bad++;
			continue;
		}
		if (verify(&ios[i], what))
			bad++;
	}
	return bad ? -1 : 0;
}

struct revoker {
	int method;		/* 0: memory decode off, 1: VFIO_DEVICE_RESET */
	volatile double start;	/* revoke from then on (0: not yet) */
	double t0, t1;		/* the revoke began, returned */
	char inflight[64];	/* the namespace's reads and writes in flight then */
	int ret;
};

static void *revoker(void *arg)
{
	struct revoker *rv = arg;
	double end = now() + 30;

	while (!rv->start && now() < end)
		sched_yield();
	sysfs_read("/sys/block/nvme0n1/inflight", rv->inflight, sizeof(rv->inflight));
	rv->t0 = now();
	if (rv->method == 0)
		rv->ret = set_memory_decode(0);
	else
		rv->ret = ioctl(devfd, VFIO_DEVICE_RESET) ? -errno : 0;
	rv->t1 = now();
	return NULL;
}

/*
 * One revoke while NR_REVOKE_IO requests are in flight: a read into the BAR
 * every fourth request, writes from it otherwise.  method 0 clears memory
 * decode (and tests new I/O while revoked before setting it again), method 1
 * resets the device through vfio.  bar_base: the 2 MiB of the BAR the reads
 * of this round go to.
 */
static void revoke_round(int method, uint64_t bar_base, uint64_t ns_base)
{
	const char *name = method ? "VFIO_DEVICE_RESET" : "memory decode off";
	static struct io ios[NR_REVOKE_IO];
	int i, got, nr_ok = 0, nr_enodev = 0, nr_other = 0, nr_bad = 0, r = 0;
	struct revoker rv = { 0 };
	double t0, t1, t2;
	pthread_t thr;
	int ret;

	for (i = 0; i < NR_REVOKE_IO; i++) {
		struct io *io = &ios[i];

		memset(io, 0, sizeof(*io));
		io->write = i % 4 != 0;
		io->slot = 0;
		if (io->write) {
			/*
			 * From the host's pattern in [0, 4M).  Mostly 128 KiB, which
			 * goes out from the submitting task; every 16th 1 MiB, which
			 * needs splitting and so goes through io_uring's workers.
			 */
			io->len = i % 16 == 15 ? 1 * MIB : 128 * KIB;
			io->boff = i % 16 == 15 ? (i / 16 % 3) * MIB : (i % 16) * 256 * KIB;
			io->noff = ns_base + i * MIB;
		} else {
			io->len = 64 * KIB;
			io->boff = bar_base + r * 64 * KIB;
			io->noff = ns_base + 128 * MIB + r * 64 * KIB;
			io->seed = seed0 + 1000 + method * 100 + r;
			r++;
			if (ns_fill(io)) {
				tap(0, "%s: fill the namespace: %s", name, strerror(errno));
				return;
			}
		}
	}
	/*
	 * Submit half the batch, then revoke from another thread while this
	 * one submits the other half: requests are then in the device, in the
	 * block layer, in io_uring's workers and not yet submitted.  (io_uring
	 * posts completions when the submitter returns, so the CQ cannot tell
	 * which ones the device had finished when the revoke began.)
	 */
	rv.method = method;
	if (pthread_create(&thr, NULL, revoker, &rv)) {
		tap(0, "%s: start the revoking thread", name);
		return;
	}
	for (i = 0; i < NR_REVOKE_IO / 2; i++)
		prep(&ios[i], i);
	t0 = now();
	io_uring_submit(&ring);
	t1 = now();
	rv.start = t1;
	for (; i < NR_REVOKE_IO; i++)
		prep(&ios[i], i);
	io_uring_submit(&ring);
	t2 = now();
	pthread_join(thr, NULL);
	ret = rv.ret;
	printf("# %s: submitted %d in %.1f ms, %d more in %.1f ms; the revoke began %.1f ms after "
	       "the first half, with reads/writes in flight in the namespace's queue: %s, and "
	       "took %.1f ms (%s)\n", name, NR_REVOKE_IO / 2, (t1 - t0) * 1e3,
	       NR_REVOKE_IO / 2, (t2 - t1) * 1e3, (rv.t0 - t1) * 1e3, rv.inflight,
	       (rv.t1 - rv.t0) * 1e3, ret ? strerror(-ret) : "ok");
	tap(ret == 0, "%s while %d requests are being submitted", name, NR_REVOKE_IO);

	if (method == 0 && ret == 0) {
		/* New I/O while revoked: a read into and a write from the BAR. */
		struct io nio[2] = {
			{ .write = 0, .boff = bar_base + 64 * 32 * KIB, .len = 64 * KIB,
			  .noff = ns_base + 160 * MIB, .seed = seed0 + 1999 },
			{ .write = 1, .boff = 0, .len = 64 * KIB, .noff = ns_base + 161 * MIB },
		};
		struct io_uring_cqe *cqe;
		int res[2], j;

		ns_fill(&nio[0]);
		for (j = 0; j < 2; j++) {
			prep(&nio[j], 1000 + j);
			io_uring_submit(&ring);
			res[j] = -ETIME;
			/* the revoke round's completions may come first */
			for (;;) {
				struct __kernel_timespec ts = { .tv_sec = 60 };

				if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
					break;
				if (cqe->user_data == 1000u + j) {
					res[j] = cqe->res;
					io_uring_cqe_seen(&ring, cqe);
					break;
				}
				if (cqe->user_data < NR_REVOKE_IO) {
					ios[cqe->user_data].res = cqe->res;
					ios[cqe->user_data].done = 1;
				}
				io_uring_cqe_seen(&ring, cqe);
			}
			printf("# new %s while revoked: res %d (%s)\n",
			       j ? "WRITE_FIXED from the BAR" : "READ_FIXED into the BAR",
			       res[j], res[j] < 0 ? strerror(-res[j]) : "transferred");
			tap(res[j] == -ENODEV, "new %s while revoked fails with ENODEV (got %d: %s)",
			    j ? "write" : "read", res[j], res[j] < 0 ? strerror(-res[j]) : "success");
		}
		/*
		 * A read that failed with ENODEV never ran: the BAR must still
		 * hold the host's pattern there.  Anything else may have landed.
		 */
		if (res[0] != -ENODEV)
			printf("p2p-host: scratch bar_off=%#lx len=%lu\n",
			       (unsigned long)nio[0].boff, (unsigned long)nio[0].len);
		ret = set_memory_decode(1);
		tap(ret == 0, "memory decode back on (%s)", ret ? strerror(-ret) : "ok");
	}

	got = reap(ios, NR_REVOKE_IO, 120);
	tap(got == NR_REVOKE_IO, "%s: every request completed (%d of %d)", name, got, NR_REVOKE_IO);
	for (i = 0; i < NR_REVOKE_IO; i++) {
		struct io *io = &ios[i];

		if (!io->done)
			continue;
		if (io->res == (int)io->len) {
			nr_ok++;
			if (verify(io, name))
				nr_bad++;
		} else if (io->res == -ENODEV) {
			nr_enodev++;
		} else {
			nr_other++;
			printf("# %s: request %d (%s) res %d (%s)\n", name, i,
			       io->write ? "write" : "read", io->res,
			       io->res < 0 ? strerror(-io->res) : "short");
		}
		/* An ENODEV read never ran: its BAR range keeps the host's bytes. */
		if (!io->write && io->res != (int)io->len && io->res != -ENODEV)
			printf("p2p-host: scratch bar_off=%#lx len=%lu\n",
			       (unsigned long)bar_off(io), (unsigned long)io->len);
	}
	{
		char list[NR_REVOKE_IO + 1];
		int rd_enodev = 0;

		for (i = 0; i < NR_REVOKE_IO; i++) {
			const struct io *io = &ios[i];

			list[i] = !io->done ? '?' : io->res == (int)io->len ?
				  (!io->write ? 'r' : io->len > 128 * KIB ? 'W' : 'w') :
				  io->res == -ENODEV ? (io->write ? 'N' : 'M') : 'X';
			rd_enodev += !io->write && io->res == -ENODEV;
		}
		list[NR_REVOKE_IO] = 0;
		printf("# %s: requests in submission order (a read every 4th): r/w read/write done (W: a 1 MiB write), M/N read/write ENODEV, X other, "
		       "? never completed:\n# %s\n", name, list);
		printf("# %s: completions %d: success %d (data verified %d), ENODEV %d (%d reads, %d writes), other %d\n",
		       name, got, nr_ok, nr_ok - nr_bad, nr_enodev, rd_enodev, nr_enodev - rd_enodev,
		       nr_other);
	}
	tap(nr_other == 0, "%s: every request succeeded or failed with ENODEV (%d other)",
	    name, nr_other);
	tap(nr_bad == 0, "%s: the data of every successful request verifies (%d bad of %d)",
	    name, nr_bad, nr_ok);

	/* I/O works again once the exporter allows mapping. */
	{
		struct io again[8];

		for (i = 0; i < 8; i++) {
			memset(&again[i], 0, sizeof(again[i]));
			again[i].write = i & 1;
			again[i].len = 128 * KIB;
			again[i].boff = again[i].write ? (i * 512 * KIB) : bar_base + i * 128 * KIB;
			again[i].noff = ns_base + 170 * MIB + i * MIB;
			again[i].seed = seed0 + 1900 + method * 10 + i;
		}
		ret = run_batch(again, 8, name);
		tap(ret == 0, "%s: I/O after the revoke works and verifies", name);
	}
}

static uint32_t cmdline_seed(int *found)
{
	char buf[4096], *p;

	*found = 0;
	if (sysfs_read("/proc/cmdline", buf, sizeof(buf)))
		return 0;
	p = strstr(buf, "p2p.seed=");
	if (!p)
		return 0;
	*found = 1;
	return strtoul(p + 9, NULL, 0);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/nvme0n1";
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_BAR2_REGION_INDEX };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_dma_buf d;
		struct vfio_region_dma_range r;
	} feat;
	char bdf[256];
	int iommufd, dmabuf, ret, found, i;
	int64_t bad;
	uint16_t cmd;

	printf("TAP version 13\n");
	seed0 = cmdline_seed(&found);
	if (!found) {
		printf("1..0 # SKIP no p2p.seed= on the kernel command line (rig/check.sh's p2p boots set it)\n");
		return 4;
	}
	if (find_ivshmem(bdf, sizeof(bdf))) {
		printf("1..0 # SKIP no ivshmem device (rig/vm.sh --ivshmem)\n");
		return 4;
	}
	printf("1..22\n");
	printf("# ivshmem at %s, host pattern seed %u\n", bdf, seed0);
	printf("p2p-host: prefill seed=%u\n", seed0);

	devfd = vfio_bind(bdf);
	tap(devfd >= 0, "bind %s to vfio-pci, open its vfio cdev (%s)", bdf,
	    devfd < 0 ? strerror(-devfd) : "ok");
	if (devfd < 0)
		return 1;
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	bind.iommufd = iommufd;
	ret = iommufd < 0 || ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	      ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas) ? -errno : 0;
	if (!ret) {
		attach.pt_id = ioas.out_ioas_id;
		ret = ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ? -errno : 0;
	}
	if (!ret)
		ret = ioctl(devfd, VFIO_DEVICE_GET_INFO, &info) ||
		      ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &cfg) ||
		      ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &reg) ? -errno : 0;
	tap(ret == 0, "iommufd bind + IOAS attach, region info (%s)", ret ? strerror(-ret) : "ok");
	if (ret)
		return 1;
	cfg_off = cfg.offset;
	bar_size = reg.size;
	printf("# BAR 2: %lu MiB, flags %#x; device flags %#x (reset %s)\n",
	       (unsigned long)(bar_size / MIB), reg.flags, info.flags,
	       info.flags & VFIO_DEVICE_FLAGS_RESET ? "supported" : "not supported");
	if (bar_size < 16 * MIB) {
		tap(0, "BAR 2 is at least 16 MiB (%lu)", (unsigned long)bar_size);
		return 1;
	}
	{
		char ms[32] = "?";

		sysfs_read("/sys/block/nvme0n1/queue/max_sectors_kb", ms, sizeof(ms));
		printf("# nvme0n1 max_sectors_kb %s\n", ms);
	}
	if (cmd_read(&cmd) == 0 && !(cmd & PCI_COMMAND_MEMORY)) {
		printf("# memory decode was off (command %#x): enabling it\n", cmd);
		set_memory_decode(1);
	}

	memset(&feat, 0, sizeof(feat));
	feat.f.argsz = sizeof(feat);
	feat.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	feat.d.region_index = VFIO_PCI_BAR2_REGION_INDEX;
	feat.d.open_flags = O_RDWR | O_CLOEXEC;
	feat.d.nr_ranges = 1;
	feat.r.offset = 0;
	feat.r.length = bar_size;
	dmabuf = ioctl(devfd, VFIO_DEVICE_FEATURE, &feat);
	tap(dmabuf >= 0, "VFIO_DEVICE_FEATURE_DMA_BUF exports BAR 2 (%s)",
	    dmabuf < 0 ? strerror(errno) : "ok");
	if (dmabuf < 0)
		return 1;

	bar = mmap(NULL, bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, devfd, reg.offset);
	if (bar == MAP_FAILED) {
		tap(0, "mmap of BAR 2 through vfio: %s", strerror(errno));
		return 1;
	}
	bad = check(bar, bar_size, seed0, 0);
	tap(bad < 0, "the BAR holds the host's pattern (first bad byte %lld)", (long long)bad);

	nvme = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	ram = mmap(NULL, 1 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nvme < 0 || ram == MAP_FAILED || io_uring_queue_init(RING_SIZE, &ring, 0) ||
	    io_uring_register_buffers_sparse(&ring, 4)) {
		tap(0, "open %s, ring with a sparse buffer table: %s", dev, strerror(errno));
		return 1;
	}
	/* The rig runs this on the series' kernel only: -EINVAL is a failure. */
	ret = io_uring_register_buffer_dmabuf(&ring, 0, dmabuf, nvme, 0, 0, 0);
	tap(ret == 0, "register the whole BAR dma-buf against %s (%s)", dev,
	    ret ? strerror(-ret) : "ok");
	if (ret)
		return 1;
	ret = io_uring_register_buffer_dmabuf(&ring, 1, dmabuf, nvme, SUB_OFF, SUB_LEN, 0);
	tap(ret == 0, "register [4 MiB, 8 MiB) of it as slot 1 (%s)", ret ? strerror(-ret) : "ok");
	if (ret)
		return 1;

	/* 1. From the BAR (the host's pattern) to the namespace, all at once. */
	{
		struct io w[] = {
			{ .write = 1, .slot = 0, .boff = 0, .len = 4 * KIB, .noff = 0 },
			{ .write = 1, .slot = 0, .boff = 0x3000, .len = 64 * KIB, .noff = 1 * MIB },
			{ .write = 1, .slot = 0, .boff = 0x10200, .len = 20 * KIB + 512, .noff = 2 * MIB },
			{ .write = 1, .slot = 0, .boff = 0x101000, .len = 1 * MIB, .noff = 4 * MIB },
			{ .write = 1, .slot = 0, .boff = 0x7ff000, .len = 512 * KIB, .noff = 8 * MIB },
			{ .write = 1, .slot = 1, .boff = 0x1000, .len = 256 * KIB, .noff = 12 * MIB },
			{ .write = 1, .slot = 1, .boff = 0x3ff000, .len = 4 * KIB, .noff = 13 * MIB },
			{ .write = 1, .slot = 0, .boff = bar_size - 4 * KIB, .len = 4 * KIB, .noff = 14 * MIB },
			{ .write = 1, .slot = 0, .boff = 0x200000, .len = 128 * KIB, .noff = 15 * MIB + 512 },
		};
		int nr = sizeof(w) / sizeof(w[0]);
		uint64_t bytes = 0;

		for (i = 0; i < nr; i++)
			bytes += w[i].len;
		ret = run_batch(w, nr, "write from the BAR");
		tap(ret == 0, "WRITE_FIXED from the BAR: %d requests at once, 4 KiB..1 MiB, %lu bytes verified by O_DIRECT reads",
		    nr, (unsigned long)bytes);
	}

	/* 2. From the namespace into the BAR, [8M, 12M) and slot 1's last page. */
	{
		struct io r[] = {
			{ .slot = 0, .boff = 8 * MIB, .len = 4 * KIB, .noff = 32 * MIB },
			{ .slot = 0, .boff = 8 * MIB + 0x3000, .len = 64 * KIB, .noff = 33 * MIB },
			{ .slot = 0, .boff = 8 * MIB + 0x20200, .len = 20 * KIB + 512, .noff = 34 * MIB },
			{ .slot = 0, .boff = 9 * MIB, .len = 1 * MIB, .noff = 36 * MIB },
			{ .slot = 0, .boff = 10 * MIB + 0x1000, .len = 512 * KIB, .noff = 38 * MIB },
			{ .slot = 0, .boff = 11 * MIB, .len = 256 * KIB, .noff = 40 * MIB + 512 },
			{ .slot = 1, .boff = 0x3ff000, .len = 4 * KIB, .noff = 41 * MIB },
			{ .slot = 1, .boff = 0x300000, .len = 128 * KIB, .noff = 42 * MIB },
		};
		int nr = sizeof(r) / sizeof(r[0]);
		uint64_t bytes = 0;

		for (i = 0; i < nr; i++) {
			r[i].seed = seed0 + 1 + i;
			bytes += r[i].len;
		}
		ret = run_batch(r, nr, "read into the BAR");
		tap(ret == 0, "READ_FIXED into the BAR: %d requests at once, 4 KiB..1 MiB, %lu bytes verified through the BAR mmap",
		    nr, (unsigned long)bytes);
	}

	/* 3. Revoke under I/O: memory decode off, then a device reset. */
	revoke_round(0, 12 * MIB, 256 * MIB);
	if (info.flags & VFIO_DEVICE_FLAGS_RESET) {
		revoke_round(1, 14 * MIB, 512 * MIB);
	} else {
		for (i = 0; i < 5; i++)
			printf("ok %d # SKIP the device has no reset method (VFIO_DEVICE_FLAGS_RESET unset)\n",
			       ++tap_n);
	}

	ret = io_uring_unregister_buffers(&ring);
	tap(ret == 0, "unregister the buffers (%s)", ret ? strerror(-ret) : "ok");
	io_uring_queue_exit(&ring);
	munmap(bar, bar_size);
	close(dmabuf);
	close(devfd);
	close(iommufd);
	close(nvme);
	printf("# bytes declared to the host checker: %lu\n", (unsigned long)host_bytes);
	printf("p2p-host: end failed=%d\n", failed);
	return failed ? 1 : 0;
}
