#!/bin/bash
# rig/export.sh: write the commits of build/linux (base..HEAD) to
# patches/linux/ as the series, deterministically: zero commit ids, no
# signature, fixed numbering, a base-commit line, and a cover letter whose
# subject and text come from patches/linux/cover-letter.txt (first line the
# subject, then the body); git fills in the shortlog and diffstat.
# A commit's git note goes below its "---" line (for reviewers, not for git
# am): that is where a patch explains a checkpatch report it keeps, as
# "checkpatch-ignore: TYPE[,TYPE] reason".
# Also records the base the series was last exported against (BASE).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/versions.env"
tree="$top/build/linux"
dir="$top/patches/linux"
mkdir -p "$dir"
# Debian's top-level .gitignore ("/*") hides every new file from git add -A.
new=$(git -C "$tree" ls-files --others --ignored --exclude-standard)
if [ -n "$new" ]; then
	echo "export: files in build/linux that no commit has (Debian's .gitignore hides them;" >&2
	echo "export: add them with git add -f, or delete them):" >&2
	echo "$new" | sed 's/^/  /' >&2
	exit 1
fi
if ! git -C "$tree" diff --quiet HEAD; then
	echo "export: build/linux has uncommitted changes; commit them first" >&2
	exit 1
fi
n=$(git -C "$tree" rev-list --count base..HEAD)
rm -f "$dir"/[0-9][0-9][0-9][0-9]-*.patch
if [ "$n" -gt 0 ]; then
	cover=()
	[ "$n" -gt 1 ] && cover=(--cover-letter)
	git -C "$tree" -c core.abbrev=12 -c diff.noprefix=false -c format.signoff=false \
		format-patch -q --zero-commit --no-signature --no-numbered-files --notes \
		--subject-prefix=PATCH --base=base "${cover[@]}" -o "$dir" base..HEAD >/dev/null
	cl="$dir/0000-cover-letter.patch"
	if [ -f "$cl" ]; then
		if [ -f "$dir/cover-letter.txt" ]; then
			python3 - "$cl" "$dir/cover-letter.txt" <<'PY'
import sys
cl, txt = sys.argv[1], open(sys.argv[2]).read().split('\n', 1)
s = open(cl).read()
s = s.replace('*** SUBJECT HERE ***', txt[0].strip())
s = s.replace('*** BLURB HERE ***', txt[1].strip() if len(txt) > 1 else '')
open(cl, 'w').write(s)
PY
		fi
		# The cover letter's date is the export's: fix it.
		sed -i 's/^Date: .*/Date: Sat, 1 Jan 2000 00:00:00 +0000/' "$cl"
	fi
fi
echo "$KERNEL_PKG $(dpkg-query -W -f='${Version}' "$KERNEL_PKG") ($(make -s -C "$tree" kernelversion)), base-commit $(git -C "$tree" rev-parse base)" > "$dir/BASE"
# The tree now matches the repo: record it so rig/tree.sh leaves it alone.
"$top/rig/tree.sh" --record
echo "export: $n patch(es) in patches/linux"
