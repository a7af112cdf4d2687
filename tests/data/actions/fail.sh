#!/bin/sh
# An action program that fails: a line on stderr, exit 3.
echo oops >&2
exit 3
