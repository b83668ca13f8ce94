# Shared by tests/slurm/start.sh and stop.sh (sourced, not run).

# running PIDFILE COMM: true if the pid in PIDFILE is alive and is COMM
running() {
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q "$comm" "/proc/$pid/comm" 2>/dev/null || return 1
  # a killed daemon can linger as a zombie (PID 1 of some sandboxes does not
  # reap orphans): kill -0 succeeds on it, so check the state too
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}
