// SPDX-License-Identifier: GPL-2.0
/*
 * insn-count: a QEMU TCG plugin that counts the guest instructions executed
 * in kernel mode and in user mode, for `make bench`.
 *
 * Counting is inline (no helper call per instruction): each translated
 * instruction adds one to the kernel or the user counter, chosen by the top
 * bit of its virtual address (x86-64: the kernel lives in the upper half).
 * The counters are plain integers, so the guest must have one vCPU (-smp 1);
 * the plugin refuses to load otherwise.
 *
 * Arguments (key=value, as QEMU 7.2 passes them):
 *   out=PATH       where to write the counts when QEMU exits (required)
 *   mark=ADDR      a guest kernel address (hex) whose execution takes a
 *                  snapshot of the counters: the guest calls it between
 *                  jobs, and the difference of two snapshots is the cost
 *                  of what ran between them
 *   region=NAME@ENTRY@RET[@RET...]
 *                  inclusive cost of a kernel function: counting starts
 *                  when ENTRY (its first instruction) runs and stops at
 *                  any RET (the instructions after the calls to it), so
 *                  the callees are included; up to 8 regions
 *   gate=NAME@ADDR region NAME counts only the calls during which ADDR ran
 *                  (between its ENTRY and its RET): with ENTRY the kernel's
 *                  syscall entry, RET its returns to user mode and ADDR one
 *                  syscall's handler, the whole cost of that syscall, its
 *                  entry and exit included
 *   per=insn|tb    one inline add per instruction (default, exact) or one
 *                  per translation block (faster; a block left early by an
 *                  exception is counted whole)
 *   profile=PATH   also count the executions of every kernel translation
 *                  block, and write at each mark the blocks that ran since
 *                  the previous one ("tb VADDR INSNS EXECUTIONS"), for a
 *                  per-function profile of a window (bench/bench.py profile)
 *
 * Output: "mark I KERNEL USER [NAME INSNS CALLS]..." per snapshot, then
 * "end KERNEL USER [...]" at exit.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_REGIONS 8
#define MAX_RETS 16

struct region {
	char name[64];
	uint64_t entry;
	uint64_t rets[MAX_RETS];
	int nrets;
	uint64_t gate;		/* 0, or an address that must run in a call */
	bool gate_seen;
	bool active;
	uint64_t start;		/* kernel count at entry */
	uint64_t insns;		/* inclusive kernel instructions, summed */
	uint64_t calls;
};

struct snap {
	uint64_t kern, user;
	uint64_t insns[MAX_REGIONS], calls[MAX_REGIONS];
};

static uint64_t kern_insns, user_insns;
static struct region regions[MAX_REGIONS];
static int nregions;
static uint64_t mark_addr;
static bool per_tb;
static const char *out_path;
static struct snap *snaps;
static size_t nsnaps, snap_cap;

/* profile=: one record per translated kernel block */
struct tbrec {
	uint64_t vaddr;
	uint64_t n;
	uint64_t count;	/* executions, inline */
	uint64_t seen;	/* count at the previous mark */
	struct tbrec *next;
};
static struct tbrec *tbrecs;
static FILE *prof;

static bool is_kernel(uint64_t vaddr)
{
	return vaddr >> 63;
}

static void take_snap(struct snap *s)
{
	s->kern = kern_insns;
	s->user = user_insns;
	for (int i = 0; i < nregions; i++) {
		s->insns[i] = regions[i].insns;
		s->calls[i] = regions[i].calls;
	}
}

static void on_mark(unsigned int vcpu, void *udata)
{
	if (nsnaps == snap_cap) {
		size_t cap = snap_cap ? snap_cap * 2 : 256;
		struct snap *n = realloc(snaps, cap * sizeof(*n));

		if (!n)
			return;	/* counted as a missing mark by the host */
		snaps = n;
		snap_cap = cap;
	}
	take_snap(&snaps[nsnaps++]);
	if (prof) {
		fprintf(prof, "mark %zu\n", nsnaps - 1);
		for (struct tbrec *t = tbrecs; t; t = t->next) {
			if (t->count == t->seen)
				continue;
			fprintf(prof, "tb %" PRIx64 " %" PRIu64 " %" PRIu64 "\n",
				t->vaddr, t->n, t->count - t->seen);
			t->seen = t->count;
		}
		fflush(prof);
	}
}

static void on_entry(unsigned int vcpu, void *udata)
{
	struct region *r = udata;

	/* A new entry without a return (a tail call out, an oops): restart. */
	r->active = true;
	r->gate_seen = false;
	r->start = kern_insns;
}

static void on_gate(unsigned int vcpu, void *udata)
{
	struct region *r = udata;

	if (r->active)
		r->gate_seen = true;
}

static void on_return(unsigned int vcpu, void *udata)
{
	struct region *r = udata;

	if (!r->active)
		return;
	r->active = false;
	if (r->gate && !r->gate_seen)
		return;
	r->insns += kern_insns - r->start;
	r->calls++;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	uint64_t *ctr = is_kernel(qemu_plugin_tb_vaddr(tb)) ? &kern_insns : &user_insns;

	if (per_tb)
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, ctr, n);
	if (prof && ctr == &kern_insns) {
		struct tbrec *t = calloc(1, sizeof(*t));

		if (t) {
			t->vaddr = qemu_plugin_tb_vaddr(tb);
			t->n = n;
			t->next = tbrecs;
			tbrecs = t;
			qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
								 &t->count, 1);
		}
	}

	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint64_t va = qemu_plugin_insn_vaddr(insn);

		if (!per_tb)
			qemu_plugin_register_vcpu_insn_exec_inline(insn,
					QEMU_PLUGIN_INLINE_ADD_U64, ctr, 1);
		if (!is_kernel(va))
			continue;
		if (va == mark_addr)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark,
					QEMU_PLUGIN_CB_NO_REGS, NULL);
		for (int r = 0; r < nregions; r++) {
			if (va == regions[r].entry)
				qemu_plugin_register_vcpu_insn_exec_cb(insn, on_entry,
						QEMU_PLUGIN_CB_NO_REGS, &regions[r]);
			if (regions[r].gate && va == regions[r].gate)
				qemu_plugin_register_vcpu_insn_exec_cb(insn, on_gate,
						QEMU_PLUGIN_CB_NO_REGS, &regions[r]);
			for (int k = 0; k < regions[r].nrets; k++)
				if (va == regions[r].rets[k])
					qemu_plugin_register_vcpu_insn_exec_cb(insn, on_return,
							QEMU_PLUGIN_CB_NO_REGS, &regions[r]);
		}
	}
}

static void print_snap(FILE *f, const struct snap *s)
{
	fprintf(f, " %" PRIu64 " %" PRIu64, s->kern, s->user);
	for (int i = 0; i < nregions; i++)
		fprintf(f, " %s %" PRIu64 " %" PRIu64, regions[i].name, s->insns[i], s->calls[i]);
	fputc('\n', f);
}

static void at_exit_cb(qemu_plugin_id_t id, void *udata)
{
	FILE *f = fopen(out_path, "w");
	struct snap end;

	if (!f) {
		qemu_plugin_outs("insn-count: cannot write the output file\n");
		return;
	}
	fprintf(f, "# insn-count per=%s mark=0x%" PRIx64 " regions=%d\n",
		per_tb ? "tb" : "insn", mark_addr, nregions);
	for (size_t i = 0; i < nsnaps; i++) {
		fprintf(f, "mark %zu", i);
		print_snap(f, &snaps[i]);
	}
	take_snap(&end);
	fprintf(f, "end");
	print_snap(f, &end);
	fclose(f);
}

static int parse_region(char *spec)
{
	struct region *r;
	char *tok, *save = NULL;

	if (nregions == MAX_REGIONS)
		return -1;
	r = &regions[nregions];
	tok = strtok_r(spec, "@", &save);
	if (!tok || strlen(tok) >= sizeof(r->name))
		return -1;
	strcpy(r->name, tok);
	tok = strtok_r(NULL, "@", &save);
	if (!tok)
		return -1;
	r->entry = strtoull(tok, NULL, 16);
	while ((tok = strtok_r(NULL, "@", &save))) {
		if (r->nrets == MAX_RETS)
			return -1;
		r->rets[r->nrets++] = strtoull(tok, NULL, 16);
	}
	if (!r->entry || !r->nrets)
		return -1;
	nregions++;
	return 0;
}

/* gate=NAME@ADDR, after NAME's region= */
static int parse_gate(char *spec)
{
	char *at = strchr(spec, '@');

	if (!at)
		return -1;
	*at = '\0';
	for (int i = 0; i < nregions; i++) {
		if (!strcmp(regions[i].name, spec)) {
			regions[i].gate = strtoull(at + 1, NULL, 16);
			return regions[i].gate ? 0 : -1;
		}
	}
	return -1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	if (info->system_emulation && info->system.max_vcpus > 1) {
		fprintf(stderr, "insn-count: needs one vCPU (-smp 1): its counters are not atomic\n");
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];

		if (!strncmp(a, "out=", 4)) {
			out_path = a + 4;
		} else if (!strncmp(a, "mark=", 5)) {
			mark_addr = strtoull(a + 5, NULL, 16);
		} else if (!strncmp(a, "region=", 7)) {
			if (parse_region(a + 7)) {
				fprintf(stderr, "insn-count: bad region %s\n", a + 7);
				return -1;
			}
		} else if (!strncmp(a, "gate=", 5)) {
			if (parse_gate(a + 5)) {
				fprintf(stderr, "insn-count: bad gate %s\n", a + 5);
				return -1;
			}
		} else if (!strncmp(a, "profile=", 8)) {
			prof = fopen(a + 8, "w");
			if (!prof) {
				fprintf(stderr, "insn-count: cannot write %s\n", a + 8);
				return -1;
			}
		} else if (!strcmp(a, "per=tb")) {
			per_tb = true;
		} else if (!strcmp(a, "per=insn")) {
			per_tb = false;
		} else {
			fprintf(stderr, "insn-count: unknown argument %s\n", a);
			return -1;
		}
	}
	if (!out_path) {
		fprintf(stderr, "insn-count: out=PATH is required\n");
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit_cb, NULL);
	return 0;
}
