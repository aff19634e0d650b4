// SPDX-License-Identifier: GPL-2.0
/*
 * fs-umount FILE MOUNTPOINT: a dma-buf registered for a file keeps the file,
 * and so its file system, in use after every fd of the file is closed.
 *
 * A 1 MiB system-heap dma-buf is registered (io_uring_register_buffer_dmabuf)
 * against FILE, a new file of the file system mounted on MOUNTPOINT, opened
 * O_DIRECT, and one WRITE_FIXED from it must go through.  Then the program
 * closes FILE and the dma-buf: only the registration holds them.
 *   - umount2(MOUNTPOINT) must fail with EBUSY, and the file system stays
 *     mounted;
 *   - once the registration is gone (io_uring_unregister_buffers()), the
 *     program exits, and the caller's umount must succeed (tests/guest/fs.sh
 *     umount).
 * Prints TAP-style lines; exit 0, 1 (a check failed) or 4 (SKIP).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/dma-heap.h>
#include "rig-util.h"

#define BUF_SIZE	(1 << 20)
#define IO_SIZE		4096

static int failed;

static void tap(int ok, const char *what, const char *detail)
{
	printf("%s - %s%s%s\n", ok ? "ok" : "not ok", what, detail ? ": " : "",
	       detail ? detail : "");
	failed |= !ok;
}

int main(int argc, char **argv)
{
	struct dma_heap_allocation_data alloc = {
		.len = BUF_SIZE,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int fd, heap, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE MOUNTPOINT\n", argv[0]);
		return 2;
	}
	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap < 0 || ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc)) {
		printf("# SKIP /dev/dma_heap/system: %s\n", strerror(errno));
		return 4;
	}
	close(heap);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0) {
		printf("not ok - open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	ret = io_uring_queue_init(4, &ring, 0);
	ret = ret ?: io_uring_register_buffers_sparse(&ring, 1);
	ret = ret ?: io_uring_register_buffer_dmabuf(&ring, 0, alloc.fd, fd, 0, 0, 0);
	tap(!ret, "a dma-buf registers against the file", ret ? strerror(-ret) : NULL);
	if (ret)
		return 1;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_write_fixed(sqe, fd, NULL, IO_SIZE, 0, 0);
	ret = io_uring_submit_and_wait(&ring, 1);
	ret = ret < 0 ? ret : io_uring_wait_cqe(&ring, &cqe);
	ret = ret < 0 ? ret : cqe->res;
	tap(ret == IO_SIZE, "WRITE_FIXED from the dma-buf to the file",
	    ret < 0 ? strerror(-ret) : NULL);
	close(fd);
	close(alloc.fd);

	ret = umount2(argv[2], 0);
	tap(ret && errno == EBUSY,
	    "umount with the file closed but registered: EBUSY",
	    ret ? strerror(errno) : "it succeeded");
	if (!ret)
		return 1;
	ret = io_uring_unregister_buffers(&ring);
	tap(!ret, "the registration is removed", ret ? strerror(-ret) : NULL);
	io_uring_queue_exit(&ring);
	return failed;
}
