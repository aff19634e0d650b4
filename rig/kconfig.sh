#!/bin/bash
# rig/kconfig.sh FLAVOR: write build/obj-FLAVOR/.config from tinyconfig plus
# rig/config/base.config, rig/config/FLAVOR.config and the fragments of the
# tree listed in rig/config/FLAVOR.tree-fragments, and check that every
# option they ask for came out as asked.
# The .config is replaced only when it changes, so builds stay incremental.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/rig/kenv.sh"
flavor=$1
obj=$(objdir "$flavor")
frags=("$top/rig/config/base.config" "$top/rig/config/$flavor.config")
if [ -f "$top/rig/config/$flavor.tree-fragments" ]; then
	for f in $(grep -v '^#' "$top/rig/config/$flavor.tree-fragments"); do
		[ -f "$tree/$f" ] && frags+=("$tree/$f")
	done
fi

mkdir -p "$obj"
tmp="$obj/.config.rig-new"
work=$(mktemp -d "$obj/.kconfig.XXXX")
trap 'rm -rf "$work"' EXIT
# RIG_KCONFIG_OFF="SYM ...": these options off, whatever the fragments ask
# (rig/static-check.sh: a file system before the series changes it).
off=" ${RIG_KCONFIG_OFF:-} "
if [ -n "${RIG_KCONFIG_OFF:-}" ]; then
	echo "kconfig: forced off: $RIG_KCONFIG_OFF" >&2
	for sym in $RIG_KCONFIG_OFF; do echo "# CONFIG_$sym is not set"; done > "$work/off.config"
	frags+=("$work/off.config")
fi
kmake "$work" -s tinyconfig >/dev/null
"$tree/scripts/kconfig/merge_config.sh" -m -O "$work" "$work/.config" "${frags[@]}" >"$work/merge.log"
kmake "$work" -s olddefconfig >/dev/null

bad=0
for f in "${frags[@]}"; do
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
			[[ $off == *" ${sym#CONFIG_} "* ]] && continue
			got=$(grep -E "^$sym=" "$work/.config" | cut -d= -f2- || true)
			if [ "$got" != "$val" ]; then
				echo "kconfig: $sym=$val wanted ($(basename "$f")), got '${got:-not set}'" >&2
				bad=1
			fi
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
			sym=${BASH_REMATCH[1]}
			if grep -qE "^$sym=[ym]" "$work/.config"; then
				echo "kconfig: $sym wanted off ($(basename "$f")), but it is on" >&2
				bad=1
			fi
		fi
	done < "$f"
done
[ $bad -eq 0 ] || { echo "kconfig: $flavor config does not have what it needs" >&2; exit 1; }

if ! cmp -s "$work/.config" "$obj/.config"; then
	cp "$work/.config" "$obj/.config"
	echo "kconfig: ${obj#$top/}/.config updated"
fi
