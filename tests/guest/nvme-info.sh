# nvme-info.sh: sourced by the guest tests that need a controller's identify
# data or registers, read as an administrator would, with nvme-cli (JSON).

# id_ctrl_field CTRL FIELD: the numeric FIELD of nvme id-ctrl CTRL on
# stdout; returns 1 (printing nothing) if nvme-cli fails or has no FIELD.
id_ctrl_field() {
	_v=$(nvme id-ctrl "$1" -o json 2>/dev/null |
		sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p")
	[ -n "$_v" ] && echo "$_v"
}

# ctrl_of DEV: the char device of the controller of NVMe namespace DEV
# (/dev/nvmeX, from sysfs) on stdout.
ctrl_of() {
	_k=$(basename "$(readlink -f "$1")")
	echo "/dev/$(basename "$(readlink -f "/sys/block/$_k/device" 2>/dev/null)")"
}

# ctrl_limits CTRL: sets MDTS (the field), MPS_KB (the controller page,
# CAP.MPSMIN from nvme show-regs), MDTS_KB, the controller's transfer
# limit in KiB (2^MDTS pages; 0: none), and TOKEN_KB, the most one dma-buf
# request carries (MDTS_KB, capped at nvme-pci's 8 MiB, NVME_MAX_BYTES);
# returns 1 if MDTS or CAP is unreadable.
ctrl_limits() {
	MDTS=$(id_ctrl_field "$1" mdts) || return 1
	# (nvme-cli 2.3 prints the registers and exits 1 on the ones it
	# cannot read)
	_cap=$(nvme show-regs "$1" -o json 2>/dev/null |
		sed -n 's/.*"cap"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p')
	[ -n "$_cap" ] || return 1
	MPS_KB=$(( 4 << ((_cap >> 48) & 15) ))
	MDTS_KB=0
	[ "$MDTS" -gt 0 ] && MDTS_KB=$(( MPS_KB << MDTS ))
	TOKEN_KB=8192
	[ "$MDTS_KB" -ne 0 ] && [ "$MDTS_KB" -lt $TOKEN_KB ] && TOKEN_KB=$MDTS_KB
	return 0
}

# nvme_disks heads|namespaces: the /dev nodes of the NVMe disks whose
# device is a subsystem (multipath heads) or a controller (namespaces with
# a controller of their own), on stdout; hidden path disks have no node
nvme_disks() {
	for _d in $(ls /sys/block | grep -E '^nvme[0-9]+n[0-9]+$'); do
		case $1:$(basename "$(readlink -f /sys/block/$_d/device)") in
		heads:nvme-subsys*|namespaces:nvme[0-9]*) echo "/dev/$_d" ;;
		esac
	done
}

# ng_of DEV: the generic char device of NVMe namespace DEV, /dev/ngXnY (X
# the controller's instance, Y the namespace's) on stdout; returns 1 if DEV
# is not a namespace with a controller of its own (a partition, another
# disk, a multipath head).
ng_of() {
	_k=$(basename "$(readlink -f "$1")")
	_c=$(basename "$(ctrl_of "$1")")
	case $_k:$_c in
	nvme*n*:nvme[0-9]*) echo "/dev/ng${_c#nvme}n${_k##*n}" ;;
	*) return 1 ;;
	esac
}
