#!/usr/bin/env bash
# tests/slurm/start.sh — bring up the single-node SLURM test cluster used by tests/test_slurm.py
# (Debian 12 "bookworm", run as root, no systemd needed).
#
# Idempotent: installs missing Debian packages, (re)writes the config files,
# starts only the daemons that are not already running, restarts the SLURM
# daemons when a config file changed, and waits until `sinfo` reports the
# node idle.  Safe to run again and again.
#
# Observed versions (2026-11, Debian 12 bookworm):
#   slurm-wlm / slurmctld / slurmd / slurmdbd 22.05.8-4+deb12u3
#   munge 0.5.15-2+deb12u1, mariadb-server 1:10.11.19-0+deb12u1
#   (tested with snakemake 9.27.1 + snakemake-executor-plugin-slurm 2.8.0)
#
# Settings (environment variables):
#   SLURM_ACCOUNTING=1   (default) also install MariaDB + slurmdbd, so that
#                        `sacct` works.  This is what the Snakemake SLURM
#                        executor plugin uses for status checks by default.
#   SLURM_ACCOUNTING=0   no database; `sacct` then fails ("Slurm accounting
#                        storage is disabled") and Snakemake MUST be run with
#                        `slurm-status-command: squeue` (else it hangs forever).
#   SLURM_NODE_MEM_MB    RealMemory of the node (default: min(20000, 90% of
#                        what `slurmd -C` detects)).
#   SLURM_WAIT_S=120     how long to wait for the node to become idle.
#   SLURM_CGROUP=0       (default) proctrack/linuxproc + task/affinity: no
#                        cgroups needed, works in containers; memory limits
#                        are NOT enforced (a job may use more than --mem).
#   SLURM_CGROUP=1       proctrack/cgroup + task/cgroup (+ cgroup.conf with
#                        ConstrainRAMSpace): --mem is enforced, a job over it
#                        is OOM-killed (state OUT_OF_MEMORY).  Needs writable
#                        cgroup v1 or v2 hierarchies (worked on the Debian 12
#                        sandbox VM with cgroup v1 this was written on).
#
# The node is called "localhost" (NodeAddr 127.0.0.1), the partition "debug"
# (default), the cluster "localcluster".  Everything listens on this machine
# only for clients on this machine; nothing remote is contacted except the
# Debian mirror that apt-get is configured with (only when packages are missing).
#
# Stop with tests/slurm/stop.sh (same folder).
set -euo pipefail

ACCOUNTING="${SLURM_ACCOUNTING:-1}"
CGROUP="${SLURM_CGROUP:-0}"
WAIT_S="${SLURM_WAIT_S:-120}"
NODE=localhost
PART=debug
CLUSTER=localcluster
DB_PASS=slurmdbpass   # local-only MariaDB user, socket access only
LOGDIR=/var/log/slurm
STATEDIR=/var/lib/slurm/slurmctld
SPOOLDIR=/var/lib/slurm/slurmd
T_START=$(date +%s)

log() { echo "[start-slurm $(($(date +%s) - T_START))s] $*"; }
die() { echo "[start-slurm] ERROR: $*" >&2; for f in "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log "$LOGDIR"/slurmdbd.log /var/log/slurm/mariadb.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- packages
PKGS=(munge slurmctld slurmd slurm-client)
[ "$ACCOUNTING" = 1 ] && PKGS+=(slurmdbd mariadb-server)
MISSING=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$p")
done
if [ ${#MISSING[@]} -gt 0 ]; then
  log "installing: ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/tmp/start-slurm-apt.log 2>&1 \
    || { tail -n 30 /tmp/start-slurm-apt.log >&2; die "apt-get install failed"; }
  log "packages installed"
else
  log "packages already installed"
fi
log "slurm $(dpkg-query -W -f='${Version}' slurmctld), munge $(dpkg-query -W -f='${Version}' munge)$([ "$ACCOUNTING" = 1 ] && echo ", mariadb $(dpkg-query -W -f='${Version}' mariadb-server)")"

# ---------------------------------------------------------------- directories
mkdir -p /etc/slurm "$LOGDIR" "$STATEDIR" "$SPOOLDIR" /run/munge
chown slurm:slurm "$LOGDIR" "$STATEDIR"
chown munge:munge /run/munge; chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
fi

# ---------------------------------------------------------------- config
# Take the CPU topology slurmd detects; keep RealMemory a bit below the real
# amount (a node reporting less memory than configured gets drained).
DETECTED=$(slurmd -C | head -n 1)
TOPO=$(echo "$DETECTED" | grep -o 'CPUs=[0-9]* Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*')
DET_MEM=$(echo "$DETECTED" | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
MEM=${SLURM_NODE_MEM_MB:-$(( DET_MEM * 9 / 10 ))}
[ -z "${SLURM_NODE_MEM_MB:-}" ] && [ "$MEM" -gt 20000 ] && MEM=20000
[ -n "$TOPO" ] && [ -n "$MEM" ] || die "could not parse 'slurmd -C': $DETECTED"

if [ "$ACCOUNTING" = 1 ]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost"
else
  ACCT_LINES="AccountingStorageType=accounting_storage/none"
fi

if [ "$CGROUP" = 1 ]; then
  PROC_LINES="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity"
else
  PROC_LINES="# no cgroup plugins: not needed on a throw-away test node, and they
# fail in many container sandboxes (SLURM_CGROUP=1 switches them on)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity"
fi

NEW_CONF=$(cat <<EOF
# written by tests/slurm/start.sh — single-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=localhost
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
$PROC_LINES
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=$SPOOLDIR
StateSaveLocation=$STATEDIR
SlurmUser=slurm
SlurmdUser=root
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
$ACCT_LINES
JobCompType=jobcomp/none
MailProg=/bin/true
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
InactiveLimit=0
KillWait=30
# keep finished jobs visible to squeue for 5 min (Snakemake's squeue status mode needs >= 120 s)
MinJobAge=300
SlurmctldTimeout=120
SlurmdTimeout=300
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 $TOPO RealMemory=$MEM State=UNKNOWN
PartitionName=$PART Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)

CHANGED=0
write_if_changed() {  # path mode owner content
  local path=$1 mode=$2 owner=$3 content=$4
  if [ ! -f "$path" ] || [ "$(cat "$path")" != "$content" ]; then
    printf '%s\n' "$content" > "$path"
    CHANGED=1
    log "wrote $path"
  fi
  chmod "$mode" "$path"; chown "$owner" "$path"
}
write_if_changed /etc/slurm/slurm.conf 0644 root:root "$NEW_CONF"
if [ "$CGROUP" = 1 ]; then
  write_if_changed /etc/slurm/cgroup.conf 0644 root:root "CgroupPlugin=autodetect
ConstrainCores=yes
ConstrainRAMSpace=yes"
elif [ -f /etc/slurm/cgroup.conf ]; then
  rm -f /etc/slurm/cgroup.conf; CHANGED=1; log "removed /etc/slurm/cgroup.conf"
fi

if [ "$ACCOUNTING" = 1 ]; then
  write_if_changed /etc/slurm/slurmdbd.conf 0600 slurm:slurm "AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
DebugLevel=info
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db"
  # MariaDB: unix socket only (no TCP), settings slurmdbd recommends
  CHANGED_BEFORE=$CHANGED; CHANGED=0
  write_if_changed /etc/mysql/mariadb.conf.d/99-slurm-harness.cnf 0644 root:root "[mysqld]
skip-networking
innodb_buffer_pool_size=256M
innodb_lock_wait_timeout=900"
  if [ "$CHANGED" = 1 ] && running /run/mysqld/mysqld.pid mariadbd; then
    log "MariaDB config changed: restarting mariadbd"
    mariadb-admin shutdown || true
  fi
  if [ "$CHANGED_BEFORE" = 1 ]; then CHANGED=1; fi
fi

# ---------------------------------------------------------------- restart on change
if [ "$CHANGED" = 1 ]; then
  for d in slurmd slurmctld slurmdbd; do
    if running /run/$d.pid $d; then
      log "config changed: stopping running $d"
      kill "$(cat /run/$d.pid)"
      for _ in $(seq 1 60); do running /run/$d.pid $d || break; sleep 0.5; done
    fi
  done
fi

# ---------------------------------------------------------------- munge
if running /run/munge/munged.pid munged; then
  log "munged already running"
else
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.25; done
  munge -n | unmunge >/dev/null || die "munge does not work"
fi

# ---------------------------------------------------------------- mariadb + slurmdbd
if [ "$ACCOUNTING" = 1 ]; then
  mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  if running /run/mysqld/mysqld.pid mariadbd; then
    log "mariadbd already running"
  else
    log "starting mariadbd"
    setsid nohup /usr/sbin/mariadbd --user=mysql >>"$LOGDIR/mariadb.log" 2>&1 </dev/null &
    for _ in $(seq 1 120); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.25; done
    mariadb-admin ping >/dev/null 2>&1 || die "mariadbd did not start"
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  if running /run/slurmdbd.pid slurmdbd; then
    log "slurmdbd already running"
  else
    log "starting slurmdbd"
    (cd / && /usr/sbin/slurmdbd)
    for _ in $(seq 1 120); do sacctmgr -n -P list cluster >/dev/null 2>&1 && break; sleep 0.25; done
    sacctmgr -n -P list cluster >/dev/null 2>&1 || die "slurmdbd does not answer"
  fi
fi

# ---------------------------------------------------------------- slurmctld + slurmd
if running /run/slurmctld.pid slurmctld; then
  log "slurmctld already running"
else
  log "starting slurmctld"
  (cd / && /usr/sbin/slurmctld)
  for _ in $(seq 1 120); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.25; done
  scontrol ping | grep -q UP || die "slurmctld does not answer"
fi
if running /run/slurmd.pid slurmd; then
  log "slurmd already running"
else
  log "starting slurmd"
  (cd / && /usr/sbin/slurmd -N "$NODE")
fi

# ---------------------------------------------------------------- wait for idle node
STATE=""
for i in $(seq 1 $((WAIT_S * 2))); do
  STATE=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1)
  case "$STATE" in
    idle|mixed|allocated) break ;;
    drain*|down*|inval*|fail*)
      # e.g. left over from an earlier run with other settings
      [ $((i % 10)) = 1 ] && scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case "$STATE" in idle|mixed|allocated) ;; *) die "node $NODE is '$STATE', not idle, after ${WAIT_S}s";; esac

if [ "$ACCOUNTING" = 1 ]; then
  # the cluster registers itself in slurmdbd when slurmctld starts; make sure
  for _ in $(seq 1 40); do sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER" && break; sleep 0.25; done
  sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || die "cluster $CLUSTER not registered in slurmdbd"
fi

# end-to-end smoke test: munge + slurmctld + slurmd + job launch
timeout -k 5 60 srun -N1 -n1 -t 1 --mem=10 -J start-slurm-smoke true \
  || die "smoke test 'srun true' failed"

log "cluster up: $(sinfo -h -o '%P %a %D %T %N %c CPUs %m MB') (accounting=$ACCOUNTING cgroup=$CGROUP)"
