#!/bin/bash
# A SIGKILL inside the spool commit of the pass after a minute boundary,
# with the commit's records half written, as a kill can stop a pwrite() of
# several pages part-way: the first records of the commit whole on disk,
# the last one torn.  The spool once kept those first records: its newest
# record then matched neither saved state, the state was refused with a
# loss recorded, and the minutes of the records cut after them were lost
# with no vm_usage_loss row.  The next start must find the spool ending at
# the pass before, continue from that pass's saved state, and close the
# minute itself.
#
# The kill comes from the spool itself (VMETER_TEST_SPOOL_COMMIT_KILL,
# lib/spool.c), armed inside a minute: passes inside a minute commit
# nothing, so the next commit is that of the boundary pass.  The rest is
# restart-ack.sh's.
RESTART_KILL_AT=commit exec bash "$(dirname "$0")/restart-ack.sh"
