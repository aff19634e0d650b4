#!/bin/bash
# rig/vm.sh [options]: boot a kernel in QEMU, run one suite in the guest,
# collect its TAP, and add the host's own results for the run:
#   vm.NAME.boot       the guest ran the suite to its end and powered off
#                      (a hang, a panic or a timeout is a failure)
#   vm.NAME.kernel-log the console has no KASAN/lockdep/WARN/BUG/hung-task/
#                      kmemleak/panic report, no NVMe command timeout, no
#                      work queued on a deprecated workqueue, from
#                      smp_init() on (before it no initcall has run)
#   vm.NAME.early-boot a report before smp_init() is a skip with its text
# Options:
#   --kernel FILE    bzImage (default build/obj-test/arch/x86/boot/bzImage)
#   --initrd FILE    (default build/initramfs-test.cpio)
#   --suite NAME     file in tests/suites (default check)
#   --name NAME      run name (default the suite's); files go to OUT/NAME.*
#   --out DIR        (default out/vm)
#   --iommu MODE     off | strict | lazy (default off)
#   --nvme KIND      null | file (default file: a fresh sparse 1 GiB image)
#   --nvme-bps N     throttle the namespace to N bytes/s (requests then stay
#                    in the device long enough for a test to act on them)
#   --nvme-nosgl     an NVMe controller without SGL support, as most consumer
#                    SSDs (Identify Controller SGLS 0; a command with an SGL
#                    is refused): runs the rig's own QEMU (rig/qemu.sh builds
#                    it, once) with -device nvme,...,sgl=off
#   --nvme-paths N   N NVMe controllers of one subsystem sharing the
#                    namespace (nvme-subsys, nvme-ns shared=on): the guest's
#                    nvme0n1 is the multipath head, with a path per controller
#   --nvme-plain     with --nvme-paths: also a controller of its own with a
#                    private namespace of the same KIND (no head: make bench
#                    compares the head with it in one boot)
#   --ivshmem PATH   add an ivshmem-plain device backed by host file PATH
#   --cpu MODEL      QEMU CPU model (default max; EPYC with --ivshmem)
#   --smp N --mem SIZE --timeout SECONDS --append "ARGS"
#   --plugin SPEC    load a TCG plugin: -plugin SPEC (e.g. file=x.so,out=...)
#   --shell          interactive: the guest gives a shell on the console
# Accelerator: TCG, unless rig/kvm-probe.sh has seen a probe boot under KVM
# complete (RIG_KVM=1 forces KVM, RIG_KVM=0 skips the probe).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

kernel="$top/build/obj-test/arch/x86/boot/bzImage"
initrd="$top/build/initramfs-test.cpio"
suite=check name="" out="$top/out/vm" iommu=off nvme=file nvme_bps="" nosgl=0 paths=1 plain=0 ivshmem="" cpu=""
smp=2 mem=2G tmo=1800 append="" shell=0 plugin=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel=$2; shift ;;
	--initrd) initrd=$2; shift ;;
	--suite) suite=$2; shift ;;
	--name) name=$2; shift ;;
	--out) out=$2; shift ;;
	--iommu) iommu=$2; shift ;;
	--nvme) nvme=$2; shift ;;
	--nvme-bps) nvme_bps=$2; shift ;;
	--nvme-nosgl) nosgl=1 ;;
	--nvme-paths) paths=$2; shift ;;
	--nvme-plain) plain=1 ;;
	--ivshmem) ivshmem=$2; shift ;;
	--cpu) cpu=$2; shift ;;
	--smp) smp=$2; shift ;;
	--mem) mem=$2; shift ;;
	--timeout) tmo=$2; shift ;;
	--append) append=$2; shift ;;
	--plugin) plugin=(-plugin "$2"); shift ;;
	--shell) shell=1 ;;
	*) echo "vm: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
name=${name:-$suite}
mkdir -p "$out"
con="$out/$name.console.log"
tap="$out/$name.tap"
host="$out/$name.host.tap"
rm -f "$con" "$tap" "$host"

# Debian's QEMU, or the rig's own for a controller without SGLs (Debian's
# has no way to turn SGL support off).  The rig's is built with only the
# devices the rig uses: no VGA, NIC or parallel port, which q35 would
# otherwise add.
qemu=qemu-system-x86_64 qemu_opts=() nvme_opts=""
if [ $nosgl -eq 1 ]; then
	qemu=$("$top/rig/qemu.sh")
	qemu_opts=(-vga none -nic none -parallel none)
	nvme_opts=",sgl=off"
fi

accel=(-accel tcg)
if [ -z "$cpu" ]; then
	cpu=max
	[ -n "$ivshmem" ] && cpu=EPYC	# P2P through the host bridge: RIG-NOTES
fi
# KVM only where a probe boot proved it works (RIG_KVM=1 forces it, 0 never).
case "${RIG_KVM:-probe}" in
1) accel=(-accel kvm) cpu=host ;;
probe) [ "$("$top/rig/kvm-probe.sh" "$kernel" "$initrd")" = kvm ] && accel=(-accel kvm) cpu=host ;;
esac
echo "vm: $name: ${accel[1]}, cpu $cpu, iommu $iommu, nvme $nvme$([ $nosgl -eq 1 ] && echo ", no SGLs")$([ "$paths" -gt 1 ] && echo ", $paths paths")$([ $plain -eq 1 ] && echo " and a private namespace")" >&2

machine="q35"
# DMA API debugging reports every error of the driver the series changes
# (its filter; the guest's init sets show_all_errors).  Unfiltered, the first
# error of any driver silences all later ones: the base kernel's udmabuf maps
# segments longer than its misc device's 64 KiB default under
# DMA_BUF_IOCTL_SYNC, which would blind the check for nvme.
# KUnit suites built in run at boot: only the series' own (the base's
# dma-buf suites take minutes under TCG and KASAN).
cmdline="console=ttyS0 panic=-1 dma_debug_driver=nvme rig.suite=$suite rig.iommu=$iommu"
cmdline+=" kunit.filter_glob=${RIG_KUNIT_GLOB:-dma-token*}"
# One poll queue, so that IOPOLL rings work on the NVMe device.
cmdline+=" nvme.poll_queues=1"
# A test exporter's wait for a retired mapping's fence (30 s) must not be
# rescued by nvme's timeout handler, which reaps a polled queue after
# io_timeout (30 s by default); and a command that times out is reported.
cmdline+=" nvme_core.io_timeout=60"
# Under TCG on a loaded host the IO-APIC timer check can miss its ticks and
# panic ("timer doesn't work through Interrupt-remapped IO-APIC", seen with
# the vIOMMU's interrupt remapping): the emulated timer works, skip the check.
cmdline+=" no_timer_check"
dev=()
case "$iommu" in
off) cmdline+=" intel_iommu=off" ;;
strict|lazy)
	# With caching-mode=on the guest's intel-iommu driver forces strict mode
	# ("IOMMU batching disallowed due to virtualization"): lazy needs it off.
	cm=on
	[ "$iommu" = lazy ] && cm=off
	machine+=",kernel-irqchip=split"
	dev+=(-device intel-iommu,intremap=on,caching-mode=$cm)
	cmdline+=" intel_iommu=on iommu.strict=$([ "$iommu" = strict ] && echo 1 || echo 0)" ;;
*) echo "vm: --iommu off|strict|lazy" >&2; exit 2 ;;
esac

[ $plain -eq 0 ] || { [ "$paths" -gt 1 ] && [ -z "$nvme_bps" ]; } ||
	{ echo "vm: --nvme-plain needs --nvme-paths 2 or more, and no --nvme-bps" >&2; exit 2; }
# backing NODE IMAGE-SUFFIX: a 1 GiB block node NODE of kind $nvme
backing() {
	case "$nvme" in
	null) dev+=(-blockdev driver=null-co,node-name=$1,size=1073741824,read-zeroes=on) ;;
	file)
		img="$out/$name.$2.img"
		rm -f "$img"
		truncate -s 1G "$img"
		dev+=(-blockdev driver=file,node-name=$1f,filename="$img",cache.direct=off
		      -blockdev driver=raw,node-name=$1,file=$1f) ;;
	*) echo "vm: --nvme null|file" >&2; exit 2 ;;
	esac
}
backing nvm0 nvme
drive=nvm0
if [ -n "$nvme_bps" ]; then
	dev+=(-object throttle-group,id=nvmtg,x-bps-total="$nvme_bps"
	      -blockdev driver=throttle,node-name=nvm0t,throttle-group=nvmtg,file=nvm0)
	drive=nvm0t
fi
if [ "$paths" -eq 1 ]; then
	dev+=(-device nvme,serial=rig0,drive=$drive$nvme_opts)
else
	# Controllers of one subsystem share its serial; the namespace is theirs.
	dev+=(-device nvme-subsys,id=subsys0,nqn=rig-subsys0)
	for ((i = 0; i < paths; i++)); do
		dev+=(-device nvme,serial=rig0,subsys=subsys0,id=nvmec$i$nvme_opts)
	done
	dev+=(-device nvme-ns,drive=$drive,nsid=1,shared=on)
	if [ $plain -eq 1 ]; then
		backing nvm1 nvme1
		dev+=(-device nvme,serial=rig1,drive=nvm1$nvme_opts)
	fi
fi
if [ -n "$ivshmem" ]; then
	# Behind a root port of its own, so that vfio-pci can reset it (a
	# secondary bus reset: ivshmem has no FLR or PM reset) and a test can
	# revoke its dma-buf through VFIO_DEVICE_RESET.
	dev+=(-object memory-backend-file,id=ivsmem,size=16M,share=on,mem-path="$ivshmem"
	      -device pcie-root-port,id=ivport,chassis=9,slot=9
	      -device ivshmem-plain,memdev=ivsmem,bus=ivport)
fi
if [ $shell -eq 1 ]; then
	cmdline+=" rig.shell=1"
	exec "$qemu" "${accel[@]}" -cpu "$cpu" -smp "$smp" -m "$mem" \
		-machine "$machine" "${qemu_opts[@]}" "${dev[@]}" -nographic -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "$cmdline $append"
fi
dev+=(-device virtio-serial-pci -chardev file,id=tap,path="$tap"
      -device virtserialport,chardev=tap,name=tap)

start=$(date +%s.%N)
set +e
timeout -k 10 "$tmo" "$qemu" "${accel[@]}" -cpu "$cpu" -smp "$smp" -m "$mem" \
	-machine "$machine" "${qemu_opts[@]}" "${dev[@]}" "${plugin[@]}" \
	-display none -monitor none -serial file:"$con" -no-reboot \
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline $append" \
	</dev/null >"$out/$name.qemu.log" 2>&1
rc=$?
set -e
secs=$(echo "$(date +%s.%N) - $start" | bc)
secs=$(printf '%.1f' "$secs")

{
	echo "TAP version 13"
	echo "1..3"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "not ok 1 vm.$name.boot # TIMEOUT: killed after ${tmo}s"
	elif [ $rc -ne 0 ]; then
		echo "not ok 1 vm.$name.boot # qemu exit code $rc: $(head -c 300 "$out/$name.qemu.log" | tr '\n' ' ')"
	elif ! grep -q '^# rig: done' "$tap" 2>/dev/null; then
		echo "not ok 1 vm.$name.boot # the suite did not finish (guest died: see ${con#$top/})"
	else
		echo "ok 1 vm.$name.boot # ${secs}s boot to poweroff"
	fi
	pat='BUG:|WARNING:|KASAN|UBSAN|kmemleak:.*new suspected|INFO: task .* blocked|'
	pat+='possible circular locking|inconsistent lock state|possible recursive locking|'
	pat+='suspicious RCU usage|Kernel panic|Oops|general protection fault|'
	pat+='sleeping function called from invalid context|soft lockup|hard LOCKUP|'
	pat+='lockdep is turned off|refcount_t:|list_add corruption|list_del corruption|'
	pat+='QID [0-9]+ timeout|enqueued on deprecated workqueue'
	# The base kernel's early boot, up to smp_init() (no initcall has run,
	# so no code of the series has either), is judged apart: under a loaded
	# host, TCG has shown a KASAN report there (an interrupt during
	# identify_cpu()) that no change of the series can cause.  It is
	# reported as a skip with the report, not hidden, and not counted
	# against the series.
	mark='smp: Bringing up secondary CPUs'
	late="$out/$name.console.after-smp-init"
	if grep -q "$mark" "$con" 2>/dev/null; then
		sed -n "/$mark/,\$p" "$con" > "$late"
		early=$(sed -n "1,/$mark/p" "$con" | grep -E -m 3 "$pat" || true)
	else
		cp "$con" "$late" 2>/dev/null || : > "$late"
		early=""
	fi
	if grep -Eq "$pat" "$late"; then
		echo "not ok 2 vm.$name.kernel-log # kernel reports in ${con#$top/}:"
		grep -E -m 20 "$pat" "$late" | sed 's/^/# /'
	elif [ ! -s "$con" ]; then
		echo "not ok 2 vm.$name.kernel-log # no console output"
	else
		echo "ok 2 vm.$name.kernel-log"
	fi
	if [ -n "$early" ]; then
		echo "ok 3 vm.$name.early-boot # SKIP base kernel report before smp_init(), before any initcall: $(echo "$early" | head -1 | cut -c1-160)"
	else
		echo "ok 3 vm.$name.early-boot"
	fi
} > "$host"
[ -f "$tap" ] || echo "Bail out! no TAP from the guest" > "$tap"
cat "$host" | grep -E '^(not )?ok' >&2
