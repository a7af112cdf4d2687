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
	# shellcheck disable=SC2086
	./configure --prefix=/usr/local --sysconfdir=/etc --localstatedir=/var $args >/dev/null
	echo "$args" >$stamp
fi
make -j"$(nproc)" >/dev/null
echo "build.sh: built vmeter ($args)"
