#!/bin/sh
# Configures and builds vmeter in the source tree.  Extra arguments go to
# ./configure (e.g. --enable-debug --enable-sanitizers).
set -eu
cd "$(dirname "$0")/.."
stamp=.configure-args
args="$*"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	./autogen.sh >/dev/null 2>&1 || ./autogen.sh
fi
if [ ! -f Makefile ] || [ "$(cat $stamp 2>/dev/null)" != "$args" ] || [ configure -nt Makefile ]; then
	# make does not see changed compiler flags: objects built with other
	# ones (say, with sanitizers) would be linked with these.
	if [ -f Makefile ] && [ "$(cat $stamp 2>/dev/null)" != "$args" ]; then
		make clean >/dev/null 2>&1 || true
	fi
	# shellcheck disable=SC2086
	./configure --prefix=/usr/local --sysconfdir=/etc --localstatedir=/var $args >/dev/null
	echo "$args" >$stamp
fi
make -j"$(nproc)" >/dev/null
echo "build.sh: built vmeter ($args)"
