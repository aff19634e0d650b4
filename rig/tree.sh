#!/bin/bash
# Make build/linux: the Debian linux-source tarball as a git tree whose first
# commit is the untouched base (tag "base"), with the series applied by git am.
#
# The base commit is made with a fixed identity and date, so its id depends on
# the tarball's content alone and the exported series' "base-commit:" line is
# the same on every machine.
#
# The tree is rebuilt only when the series in the repo changed.  If the tree
# holds commits that are not in the repo (work not yet exported) this stops
# rather than throw them away: run `make export`, or `make tree FORCE=1`.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/versions.env"
tree="$top/build/linux"
series_dir="$top/patches/linux"
state="$tree/.git/dmabuf-rw-applied"

# Committer of the applied series (git am keeps each patch's author).
export GIT_COMMITTER_NAME="dmabuf-rw rig" GIT_COMMITTER_EMAIL="rig@invalid"

series_files() {
	ls "$series_dir"/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -v '/0000-' || true
}
series_hash() {
	{ cat "$KERNEL_TARBALL.id" 2>/dev/null || stat -c '%s %Y' "$KERNEL_TARBALL"
	  for f in $(series_files); do sha256sum < "$f"; done; } | sha256sum | cut -c1-16
}

want=$(series_hash)
if [ "${1:-}" = --record ]; then	# after an export: the tree is the series
	echo "$want $(git -C "$tree" rev-parse HEAD)" > "$state"
	exit 0
fi
if [ -d "$tree/.git" ] && [ -f "$state" ]; then
	read -r have_hash have_head < "$state"
	head=$(git -C "$tree" rev-parse HEAD)
	if [ "$have_hash" = "$want" ]; then
		[ "$head" = "$have_head" ] && exit 0
		if [ "${FORCE:-0}" != 1 ]; then
			echo "tree: build/linux has commits that are not exported; using it as it is" >&2
			exit 0
		fi
	elif [ "$head" != "$have_head" ] && [ "${FORCE:-0}" != 1 ]; then
		echo "tree: the repo's series changed AND build/linux has unexported commits." >&2
		echo "tree: export them (make export) or drop them (make tree FORCE=1)." >&2
		exit 1
	fi
	if ! git -C "$tree" diff --quiet HEAD && [ "${FORCE:-0}" != 1 ]; then
		echo "tree: build/linux has uncommitted changes; commit them or make tree FORCE=1" >&2
		exit 1
	fi
	git -C "$tree" am --abort >/dev/null 2>&1 || true
	git -C "$tree" checkout -q -f -B series base
else
	rm -rf "$tree"
	mkdir -p "$tree"
	echo "tree: extracting $KERNEL_TARBALL"
	tar -xf "$KERNEL_TARBALL" -C "$tree" --strip-components=1
	git -C "$tree" init -q -b series
	git -C "$tree" config core.autocrlf false
	git -C "$tree" config gc.auto 0
	git -C "$tree" config notes.rewriteRef refs/notes/commits
	# The tarball carries the kernel's own .gitignore files; the base commit
	# must hold every file of the tarball, ignored or not.
	git -C "$tree" add -A -f .
	ver=$(dpkg-query -W -f='${Version}' "$KERNEL_PKG")
	GIT_AUTHOR_NAME="Debian $KERNEL_PKG" GIT_AUTHOR_EMAIL="base@invalid" \
	GIT_COMMITTER_NAME="Debian $KERNEL_PKG" GIT_COMMITTER_EMAIL="base@invalid" \
	GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
		git -C "$tree" commit -q -m "$KERNEL_PKG $ver (Debian)"
	git -C "$tree" tag base
fi

n=0
for p in $(series_files); do
	if ! git -C "$tree" am -q --keep-cr "$p"; then
		echo "tree: $(basename "$p") does not apply on the base" >&2
		git -C "$tree" am --abort || true
		exit 1
	fi
	# git am drops the "Notes:" below the "---" line: keep them as notes.
	note=$(sed -n '/^---$/,/^diff --git/p' "$p" |
	       sed -n '/^Notes:$/,/^$/{/^    /s/^    //p}')
	[ -z "$note" ] || git -C "$tree" notes add -f -m "$note" HEAD
	n=$((n + 1))
done
echo "$want $(git -C "$tree" rev-parse HEAD)" > "$state"
echo "tree: base $(make -s -C "$tree" kernelversion), $n patch(es) applied"
