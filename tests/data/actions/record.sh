#!/bin/sh
# An action program for tests/integration/aggregator-actions.sh: keeps
# what it was given (environment, stdin, open descriptors) in DIR, under
# the alert's id, then says so on stdout.  Usage: record.sh DIR
dir=$1
id=${VMETER_ALERT_ID:-none}
env >"$dir/env.$id"
cat >"$dir/stdin.$id"
ls -l /proc/$$/fd/ >"$dir/fds.$id" 2>&1
echo "recorded $id"
