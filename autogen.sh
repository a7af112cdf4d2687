#!/bin/sh
# Generates ./configure; needs autoconf, automake and autoconf-archive.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force --warnings=all
