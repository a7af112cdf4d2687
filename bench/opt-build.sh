# shellcheck shell=sh
# An optimised build of vmeter for a benchmark (the in-tree one may have
# sanitizers), sourced by the bench scripts.
#   opt_build DIR [TARGET...]
# Without VMETER_BUILD: copies the checkout's files to DIR (tar keeps
# modification times, so make rebuilds only what changed), configures it
# with -O2 -g and makes TARGETs (all without any), then sets VMETER_BUILD
# to DIR.  With VMETER_BUILD: makes TARGETs there.  Non-zero with the
# reason on stderr when it cannot; the build's output is in
# $VMETER_BUILD/bench-build.log.
opt_build() {
	_dir=$1
	shift
	if [ -n "${VMETER_BUILD:-}" ]; then
		[ $# = 0 ] || make -C "$VMETER_BUILD" "$@" >/dev/null || {
			echo "cannot build $* in $VMETER_BUILD" >&2
			return 1
		}
		return 0
	fi
	VMETER_BUILD=$_dir
	echo "# building an optimised copy of vmeter in $VMETER_BUILD (-O2 -g)"
	mkdir -p "$VMETER_BUILD"
	(cd "$top_srcdir" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$VMETER_BUILD" || {
		echo "cannot copy the source tree to $VMETER_BUILD" >&2
		return 1
	}
	(
		cd "$VMETER_BUILD" &&
			{ [ -x configure ] || ./autogen.sh; } &&
			{ [ -f Makefile ] || ./configure CFLAGS='-O2 -g'; } &&
			make -j"$(nproc)" "$@"
	) >"$VMETER_BUILD/bench-build.log" 2>&1 || {
		echo "build failed, see $VMETER_BUILD/bench-build.log" >&2
		return 1
	}
}
