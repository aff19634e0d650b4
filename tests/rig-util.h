/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the rig's guest programs share: a data pattern, a comparison and
 * one synchronous io_uring read or write.
 */
#ifndef RIG_UTIL_H
#define RIG_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <liburing.h>

/* Fill @buf with a pattern that depends on @seed and on each word's offset. */
static inline void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf, x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x ^ i;
	}
}

/* Return the offset of the first byte that differs, or -1. */
static inline long first_diff(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	size_t i;

	for (i = 0; i < len; i++)
		if (x[i] != y[i])
			return i;
	return -1;
}

/*
 * Submit one read or write and wait for it; return cqe->res.  @slot < 0: a
 * plain buffer at @buf; otherwise READ/WRITE_FIXED with registered buffer
 * @slot at address (or, for a dma-buf, offset) @buf.
 */
static inline int uring_rw(struct io_uring *ring, int fd, void *buf, unsigned int len,
			   off_t off, int write, int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	if (slot >= 0 && write)
		io_uring_prep_write_fixed(sqe, fd, buf, len, off, slot);
	else if (slot >= 0)
		io_uring_prep_read_fixed(sqe, fd, buf, len, off, slot);
	else if (write)
		io_uring_prep_write(sqe, fd, buf, len, off);
	else
		io_uring_prep_read(sqe, fd, buf, len, off);
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

#endif /* RIG_UTIL_H */
