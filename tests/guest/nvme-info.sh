# nvme-info.sh: sourced by the guest tests that need a controller's identify
# data or registers, read as an administrator would, with nvme-cli (JSON).

# id_ctrl_field CTRL FIELD: the numeric FIELD of nvme id-ctrl CTRL on
# stdout; returns 1 (printing nothing) if nvme-cli fails or has no FIELD.
id_ctrl_field() {
	_v=$(nvme id-ctrl "$1" -o json 2>/dev/null |
		sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p")
	[ -n "$_v" ] && echo "$_v"
}

# ctrl_limits CTRL: sets MDTS (the field), MPS_KB (the controller page,
# CAP.MPSMIN from nvme show-regs) and MDTS_KB, the controller's transfer
# limit in KiB (2^MDTS pages; 0: none); returns 1 if either is unreadable.
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
	return 0
}

# ng_of DEV: the generic char device of NVMe namespace DEV, /dev/ngXnY (X
# the controller's instance, Y the namespace's) on stdout; returns 1 if DEV
# is not a namespace with a controller of its own (a partition, another
# disk, a multipath head).
ng_of() {
	_k=$(basename "$(readlink -f "$1")")
	_c=$(basename "$(readlink -f "/sys/block/$_k/device" 2>/dev/null)")
	case $_k:$_c in
	nvme*n*:nvme[0-9]*) echo "/dev/ng${_c#nvme}n${_k##*n}" ;;
	*) return 1 ;;
	esac
}
