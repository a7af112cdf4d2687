#!/bin/sh
# An action program that outlives any timeout: it and a child of its own
# ignore SIGTERM (only the process group's SIGKILL ends them).  Writes
# their pids to DIR/pids first.  Usage: ignores-term.sh DIR
trap '' TERM
sleep 600 &
echo "$$ $!" >"$1/pids.tmp" && mv "$1/pids.tmp" "$1/pids"
wait
