#!/bin/bash
# rig/static-check.sh OUTDIR FLAVOR: the static checks of the series, as TAP
# in OUTDIR/static.tap:
#   checkpatch.NNNN  scripts/checkpatch.pl --strict: 0 errors, 0 warnings,
#                    0 checks, except types a patch explains after its "---"
#                    in a line "checkpatch-ignore: TYPE[,TYPE] <reason>"
#   build.NNNN       the kernel (bzImage + modules, FLAVOR config) builds with
#                    the series applied up to that patch (incremental, ccache;
#                    XFS from the first patch that changes it)
#   sparse           make C=2 reports no new warning in the .c files the
#                    series touches (compared with the base)
#   kernel-doc       scripts/kernel-doc -none reports no new warning in the
#                    files the series touches
# It leaves build/linux checked out at the series' head, built (FLAVOR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
out=$1 flavor=$2
obj="$top/build/obj-$flavor"
mkdir -p "$out/static"
tapf="$out/static.tap"
patches=$(ls "$top"/patches/linux/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -v '/0000-' || true)
n=$(echo "$patches" | grep -c . || true)
commits=$(git -C "$tree" rev-list --reverse base..HEAD)
head_branch=$(git -C "$tree" symbolic-ref -q --short HEAD || git -C "$tree" rev-parse HEAD)

exec 3> "$tapf"
echo "TAP version 13" >&3
i=0
ok() { i=$((i + 1)); echo "ok $i $*" >&3; echo "static: ok $*"; }
nok() { i=$((i + 1)); echo "not ok $i $1" >&3; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | head -40 | sed 's/^/# /' >&3; echo "static: not ok" >&2; }

if [ "$n" -eq 0 ]; then
	echo "1..1" >&3
	ok "series # SKIP the series has no patches yet: nothing to checkpatch, build per patch or sparse-check"
	"$top/rig/build.sh" "$flavor"
	exit 0
fi
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ] ||
   [ -n "$(git -C "$tree" ls-files --others --ignored --exclude-standard)" ]; then
	echo "static: build/linux has uncommitted changes; commit (and make export) first" >&2
	exit 1
fi
if [ "$(echo "$commits" | grep -c .)" -ne "$n" ]; then
	echo "static: build/linux has $(echo "$commits" | grep -c .) commits over base, the repo $n patches; run make tree" >&2
	exit 1
fi
echo "1..$((2 * n + 2))" >&3

# checkpatch
for p in $patches; do
	b=$(basename "$p" .patch)
	ign=$(sed -n '/^---$/,/^diff --git/p' "$p" | sed -n 's/^ *checkpatch-ignore: *\([A-Z_,]*\).*/\1/p' | paste -sd, -)
	args=(--strict --no-tree --show-types --color=never -q)
	[ -n "$ign" ] && args+=(--ignore "$ign")
	if res=$(cd "$tree" && perl scripts/checkpatch.pl "${args[@]}" "$p" 2>&1); then
		ok "checkpatch.$b${ign:+ # explained: $ign}"
	else
		echo "$res" > "$out/static/checkpatch.$b.log"
		nok "checkpatch.$b" "$res"
	fi
done

# Files the series touches.
files=$(git -C "$tree" diff --name-only --diff-filter=d base HEAD)
cfiles=$(echo "$files" | grep -E '^(drivers|block|io_uring|fs|mm|kernel|lib)/.*\.c$' || true)
docfiles=$(echo "$files" | grep -E '\.(c|h)$' | grep -v '^tools/' || true)

SPARSE="$top/build/tools/bin/sparse"
sparse_of() {	# sparse warnings of $cfiles in the tree as checked out now
	local f o
	for f in $cfiles; do
		[ -f "$tree/$f" ] || continue
		o=${f%.c}.o
		kmake "$obj" C=2 CHECK="$SPARSE" "$o" 2>&1 | grep -E '(warning|error):' | \
			sed -E 's/:[0-9]+:[0-9]+:/:/' || true
	done | LC_ALL=C sort
}
# The kernel's Makefile skips the checker silently when it is too old.
sparse_works=1
[ "$("$tree/scripts/checker-valid.sh" "$SPARSE" 2>/dev/null)" = 1 ] || sparse_works=0
kdoc_of() {
	local f
	for f in $docfiles; do
		[ -f "$tree/$f" ] || continue
		(cd "$tree" && perl scripts/kernel-doc -none -Wall "$f" 2>&1) | sed -E 's/:[0-9]+([: ])/:\1/' || true
	done | LC_ALL=C sort
}

# Every step is configured from the fragments as they are at that step (a
# symbol the series adds does not exist before it, and Kconfig drops it).
trap 'git -C "$tree" checkout -q "$head_branch"' EXIT
git -C "$tree" checkout -q --detach base
"$top/rig/kconfig.sh" "$flavor" >/dev/null
kmake "$obj" -s prepare >/dev/null 2>&1 || true
sparse_of > "$out/static/sparse.base"
kdoc_of > "$out/static/kernel-doc.base"

# XFS is built from the first patch that changes it: before it, its code is
# the base's, and compiling it (over 100 objects) against each step's headers
# would cost a near-full rebuild of it at each of the patches that change
# blkdev.h, fs.h, uio.h or iomap.h: minutes of a CI run with a cold cache.
# The step of its own patch, and the head, build it against all of them; a
# header change that broke it earlier would show there, named after the
# wrong patch.  Off, it takes only EXPORTFS with it; ext4, which the block
# device code's buffer heads come with, stays on at every step.
late_fs="fs/xfs:XFS_FS,XFS_RT"
# The configuration is made again (rig/kconfig.sh: tinyconfig, the
# fragments, olddefconfig; seconds each time) only at a step that can change
# it: one that changes a Kconfig file, a fragment of the tree or the file
# systems left out.  At the others it is the previous step's.
kconfig_inputs=(':(glob)**/Kconfig*' scripts/kconfig kernel/configs arch/x86/configs
	$(grep -v '^#' "$top/rig/config/$flavor.tree-fragments" 2>/dev/null || true))
k=0 prev= prev_off=
for c in $commits; do
	k=$((k + 1))
	b=$(basename "$(echo "$patches" | sed -n "${k}p")" .patch)
	git -C "$tree" checkout -q --detach "$c"
	start=$(date +%s)
	off=
	for e in $late_fs; do
		git -C "$tree" diff --quiet base "$c" -- "${e%%:*}" && off="$off ${e#*:}"
	done
	if [ -n "$prev" ] && [ "$off" = "$prev_off" ] &&
	   git -C "$tree" diff --quiet "$prev" "$c" -- "${kconfig_inputs[@]}"; then
		echo "kconfig: no input changed since the previous step" > "$out/static/build.$b.log"
	elif ! RIG_KCONFIG_OFF="$(echo $off | tr , ' ')" "$top/rig/kconfig.sh" "$flavor" \
		> "$out/static/build.$b.log" 2>&1; then
		nok "build.$b" "$(cat "$out/static/build.$b.log")"
		prev=
		continue
	fi
	prev=$c prev_off=$off
	if kmake "$obj" bzImage modules >> "$out/static/build.$b.log" 2>&1; then
		ok "build.$b # $(( $(date +%s) - start ))s${off:+, not built: $(echo $off | tr , ' ')}"
	else
		nok "build.$b" "$(grep -E 'error|Error' "$out/static/build.$b.log" | head -20)"
	fi
done
git -C "$tree" checkout -q "$head_branch"
trap - EXIT

sparse_of > "$out/static/sparse.head"
new=$(LC_ALL=C comm -13 "$out/static/sparse.base" "$out/static/sparse.head")
if [ $sparse_works -eq 0 ]; then
	nok sparse "$SPARSE is missing or too old for this kernel (scripts/checker-valid.sh)"
elif [ -z "$new" ]; then
	ok "sparse # $(echo "$cfiles" | grep -c .) file(s)"
else
	nok sparse "$new"
fi
kdoc_of > "$out/static/kernel-doc.head"
new=$(LC_ALL=C comm -13 "$out/static/kernel-doc.base" "$out/static/kernel-doc.head")
if [ -z "$new" ]; then ok "kernel-doc # $(echo "$docfiles" | grep -c .) file(s)"; else nok kernel-doc "$new"; fi
