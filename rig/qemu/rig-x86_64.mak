# The devices of the rig's own QEMU (rig/qemu.sh), configured with
# --without-default-devices: the q35 machine (which brings the PC's
# built-in devices, the ISA serial port of the console among them), and
# what rig/vm.sh puts on it.  Everything else (VGA, NICs, USB, audio, ...)
# is left out to keep the build short; vm.sh passes -vga none -nic none
# -parallel none.
CONFIG_Q35=y
# -device intel-iommu (--iommu strict|lazy)
CONFIG_VTD=y
# -device nvme
CONFIG_NVME_PCI=y
# -device pcie-root-port (the ivshmem device's own port)
CONFIG_PCIE_PORT=y
# -device virtio-serial-pci + virtserialport: the guest's TAP channel
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_SERIAL=y
# -device ivshmem-plain (--ivshmem)
CONFIG_IVSHMEM_DEVICE=y
