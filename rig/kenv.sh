# Sourced by the rig's scripts: the kernel build environment.
top=${top:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# RIG_TREE and RIG_OBJ point the scripts at another tree and object folder
# (rig/liburing-baseline.sh builds the unpatched base with them).
tree=${RIG_TREE:-$top/build/linux}
objdir() {	# objdir FLAVOR: where FLAVOR's kernel is built
	echo "${RIG_OBJ:-$top/build/obj-$1}"
}
# ccache shared by every clone on the machine; paths below $top are hashed
# relative to it, so a fresh clone in another folder hits the same objects.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR="$top"
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
# Reproducible build identity (also keeps init/version.o cacheable).
export KBUILD_BUILD_TIMESTAMP="2000-01-01" KBUILD_BUILD_USER=rig KBUILD_BUILD_HOST=rig
export ARCH=x86_64
JOBS=${JOBS:-$(nproc)}
kmake() {	# kmake OBJDIR args...
	local obj=$1; shift
	make -C "$tree" O="$obj" CC="ccache gcc" HOSTCC="ccache gcc" -j"$JOBS" "$@"
}
