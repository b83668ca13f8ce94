#!/usr/bin/env bash
# tests/slurm/stop.sh — stop the single-node SLURM test cluster used by tests/test_slurm.py
# Cancels all jobs of this (test) cluster, then stops slurmd, slurmctld,
# slurmdbd, mariadbd and munged by the PIDs in their pid files (nothing is
# killed by name).  Idempotent: daemons that are not running are skipped.
#
#   tests/slurm/stop.sh           stop daemons, keep state (jobs db, logs)
#   tests/slurm/stop.sh --purge   also wipe slurmctld state, slurmd spool, logs and
#                           the accounting database (next start is "clean")
set -uo pipefail
PURGE=0; [ "${1:-}" = "--purge" ] && PURGE=1
log() { echo "[stop-slurm] $*"; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_pidfile() {  # pidfile comm
  local pf=$1 comm=$2 pid
  if ! running "$pf" "$comm"; then log "$comm not running"; return 0; fi
  pid=$(cat "$pf")
  log "stopping $comm (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 60); do running "$pf" "$comm" || { rm -f "$pf"; return 0; }; sleep 0.5; done
  log "$comm did not stop after 30 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null; rm -f "$pf"
}

# cancel the jobs of this test cluster first (their slurmstepd children
# would otherwise outlive slurmd)
if running /run/slurmctld.pid slurmctld; then
  JOBS=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${JOBS// /}" ]; then
    log "cancelling jobs: $JOBS"
    # shellcheck disable=SC2086
    scancel $JOBS 2>/dev/null
    for _ in $(seq 1 60); do [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi

stop_pidfile /run/slurmd.pid slurmd
stop_pidfile /run/slurmctld.pid slurmctld
stop_pidfile /run/slurmdbd.pid slurmdbd
if [ "$PURGE" = 1 ]; then
  if running /run/mysqld/mysqld.pid mariadbd; then
    log "dropping accounting database slurm_acct_db"
    mariadb -e "DROP DATABASE IF EXISTS slurm_acct_db" || log "could not drop slurm_acct_db"
  else
    log "mariadbd not running: accounting database left as it is"
  fi
fi
stop_pidfile /run/mysqld/mysqld.pid mariadbd
stop_pidfile /run/munge/munged.pid munged

if [ "$PURGE" = 1 ]; then
  log "purging state"
  rm -rf /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/* /var/log/slurm/*
fi
log "done"
