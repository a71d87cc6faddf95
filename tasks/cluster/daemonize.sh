#!/bin/sh
# Start a command detached from the launcher: new session (setsid), stdin from
# /dev/null, stdout+stderr appended to a log file, pid written to a pid file.
# The service survives the launcher exiting.
#
#   daemonize.sh <pid-file> <log-file> <command> [args...]
set -eu
pidfile=$1
logfile=$2
shift 2
setsid "$@" </dev/null >>"$logfile" 2>&1 &
echo "$!" >"$pidfile"
