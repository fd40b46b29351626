#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for testing profiles/slurm for real.
#
#   tools/slurm/local_cluster.sh install   # Debian packages (root; apt-get)
#   tools/slurm/local_cluster.sh start     # munged, MariaDB, slurmdbd, slurmctld, slurmd
#   source "$DEMOE_SLURM_DIR/env.sh"       # SLURM_CONF for sbatch/squeue/sacct
#   tools/slurm/local_cluster.sh status
#   tools/slurm/local_cluster.sh stop      # stops the daemons by their PIDs
#
# Everything lives under $DEMOE_SLURM_DIR (default /tmp/demoe-slurm): configs, munge key
# and socket, the MariaDB data, spool/state folders, logs and PID files. The daemons listen
# on ports $DEMOE_SLURM_PORT .. +3 (default 16817..16820), not SLURM's defaults, and the
# machine's /etc/munge is not used; only /etc/slurm/slurm.conf is linked to our config
# while the cluster runs (srun inside a job reads it). start and stop are idempotent.
#
# Like a real cluster: accounting through slurmdbd + MariaDB (the SLURM executor plugin's
# default status check is `sacct`), partitions `cpu` (default) and `gpu`, and a fake GPU
# GRES (GresTypes=gpu, $DEMOE_SLURM_GPUS counted GPUs without device files) so that
# `--gpus=N` requests schedule; the jobs themselves see no GPU.
set -euo pipefail

DIR=${DEMOE_SLURM_DIR:-/tmp/demoe-slurm}
PORT=${DEMOE_SLURM_PORT:-16817}
GPUS=${DEMOE_SLURM_GPUS:-4}
CLUSTER=demoe-local
ACCOUNT=demoe
PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server)
COMMANDS=(slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mariadbd mariadb-install-db)

ETC=$DIR/etc
RUN=$DIR/run
LOG=$DIR/log
MUNGE_SOCKET=$RUN/munge.socket
DB_SOCKET=$RUN/mariadb.sock
export SLURM_CONF=$ETC/slurm.conf
SYSTEM_CONF=/etc/slurm/slurm.conf

die() {
    echo "local_cluster: $*" >&2
    exit 1
}

missing_commands() {
    local c
    for c in "${COMMANDS[@]}"; do
        command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$c" >/dev/null 2>&1 || echo "$c"
    done
}

install_packages() {
    if [[ -z "$(missing_commands)" ]]; then
        echo "local_cluster: SLURM, munge and MariaDB already installed"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "installing ${PACKAGES[*]} needs root (apt-get)"
    command -v apt-get >/dev/null || die "no apt-get: install ${PACKAGES[*]} by hand"
    # Keep the packages' init scripts from starting system-wide daemons: ours run below.
    local policy=/usr/sbin/policy-rc.d added=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
    fi
    local rc=0
    {
        apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                "${PACKAGES[@]}"
    } || rc=$?
    if [[ $added -eq 1 ]]; then rm -f "$policy"; fi
    [[ $rc -eq 0 ]] || die "apt-get install ${PACKAGES[*]} failed (exit $rc)"
    echo "local_cluster: installed ${PACKAGES[*]} in ${SECONDS}s"
}

alive() { # alive PIDFILE: the daemon of PIDFILE runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() { # wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    while ((SECONDS < deadline)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    die "$what did not come up within ${seconds}s (logs: $LOG)"
}

write_configs() {
    mkdir -p "$ETC" "$RUN" "$LOG" "$DIR/state" "$DIR/spool" "$DIR/dev"
    chmod 755 "$DIR" "$RUN"
    local host node mem i
    host=$(hostname -s)
    # This machine's CPU topology as slurmd sees it, with 10% of the memory kept back.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    node=$(slurmd -C | head -1 | sed -E "s/RealMemory=[0-9]+/RealMemory=$mem/")
    # GPU GRES need device files: null-device nodes stand in for the cards.
    for ((i = 0; i < GPUS; i++)); do
        [[ -c $DIR/dev/gpu$i ]] || mknod "$DIR/dev/gpu$i" c 1 3 ||
            die "mknod $DIR/dev/gpu$i failed (fake GPU device files need CAP_MKNOD)"
    done
    if [[ ! -s $ETC/db_password ]]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$ETC/db_password")
    fi
    cat >"$ETC/slurm.conf" <<EOF
# Written by tools/slurm/local_cluster.sh: one node, accounting, fake GPU GRES.
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((PORT + 2))
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
InactiveLimit=0
KillWait=10
MinJobAge=300
$node Gres=gpu:$GPUS State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF
    cat >"$ETC/gres.conf" <<EOF
NodeName=$host Name=gpu File=$DIR/dev/gpu[0-$((GPUS - 1))]
EOF
    (
        umask 077
        cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$((PORT + 2))
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=slurm
StoragePass=$(cat "$ETC/db_password")
StorageLoc=slurm_acct_db
EOF
    )
    printf 'export SLURM_CONF=%q\n' "$SLURM_CONF" >"$DIR/env.sh"
}

start_munge() {
    alive "$RUN/munged.pid" && return
    if [[ ! -s $ETC/munge.key ]]; then
        (umask 077 && head -c 1024 /dev/urandom >"$ETC/munge.key")
    fi
    munged --key-file="$ETC/munge.key" --socket="$MUNGE_SOCKET" --pid-file="$RUN/munged.pid" \
        --log-file="$LOG/munged.log" --seed-file="$RUN/munged.seed" --force
    wait_for 20 munged test -S "$MUNGE_SOCKET"
}

db() { mariadb --no-defaults --socket="$DB_SOCKET" -u root "$@"; }

start_mariadb() {
    alive "$RUN/mariadbd.pid" && return
    if [[ ! -d $DIR/mariadb/mysql ]]; then
        mariadb-install-db --no-defaults --datadir="$DIR/mariadb" --user=root \
            --auth-root-authentication-method=socket --skip-test-db >"$LOG/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed (see $LOG/mariadb-install.log)"
    fi
    setsid mariadbd --no-defaults --datadir="$DIR/mariadb" --socket="$DB_SOCKET" \
        --pid-file="$RUN/mariadbd.pid" --log-error="$LOG/mariadbd.log" --user=root \
        --bind-address=127.0.0.1 --port=$((PORT + 3)) --innodb-buffer-pool-size=128M \
        --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadbd db -e "SELECT 1"
    db -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$(cat "$ETC/db_password")';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
    alive "$RUN/slurmdbd.pid" && return
    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
}

setup_accounts() {
    if [[ -z $(sacctmgr -n -P list account "$ACCOUNT" format=account) ]]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
        sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description=demoe organization=demoe >/dev/null
        sacctmgr -i add user "$(id -un)" account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
        sacctmgr -i modify user "$(id -un)" set defaultaccount="$ACCOUNT" >/dev/null
    fi
}

node_ready() { # the node is up and idle (or busy) in the partitions
    local state
    state=$(sinfo -h -N -p cpu -o %t 2>/dev/null | head -1)
    [[ $state == idle* || $state == mix* || $state == alloc* ]]
}

start_slurm() {
    if ! alive "$RUN/slurmctld.pid"; then
        slurmctld
        wait_for 60 slurmctld scontrol ping
    fi
    if ! alive "$RUN/slurmd.pid"; then
        slurmd
    fi
    wait_for 60 "slurmd (node idle)" node_ready
}

link_system_conf() {
    # The executor plugin's job step drops SLURM_CONF from the environment of the `srun`
    # it runs inside each job, so srun reads the default /etc/slurm/slurm.conf, as on a
    # real cluster: link it to ours while the cluster runs (never replacing another file).
    if [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$SLURM_CONF" ]]; then return; fi
    [[ ! -e $SYSTEM_CONF && ! -L $SYSTEM_CONF ]] ||
        die "$SYSTEM_CONF exists (this machine has its own SLURM): not starting a local cluster"
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -s "$SLURM_CONF" "$SYSTEM_CONF"
}

start() {
    [[ -z "$(missing_commands)" ]] || die "missing $(missing_commands | xargs): run '$0 install' first"
    [[ $(id -u) -eq 0 ]] || die "the daemons run as root here (SlurmUser=root): run as root"
    write_configs
    link_system_conf
    start_munge
    start_mariadb
    start_slurmdbd
    setup_accounts
    start_slurm
    echo "local_cluster: up in $DIR (source $DIR/env.sh)"
}

stop_daemon() { # stop_daemon NAME: SIGTERM by PID file, wait, then SIGKILL
    local pidfile=$RUN/$1.pid pid i
    alive "$pidfile" || {
        rm -f "$pidfile"
        return 0
    }
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    rm -f "$pidfile"
}

stop() {
    local name
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        stop_daemon "$name"
    done
    if [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$SLURM_CONF" ]]; then
        rm -f "$SYSTEM_CONF"
    fi
    echo "local_cluster: stopped"
}

status() {
    local name rc=0
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if alive "$RUN/$name.pid"; then
            echo "$name: running (pid $(cat "$RUN/$name.pid"))"
        else
            echo "$name: stopped"
            rc=3
        fi
    done
    [[ $rc -ne 0 ]] || sinfo
    return $rc
}

case ${1:-} in
install) install_packages ;;
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 install|start|stop|status" ;;
esac
