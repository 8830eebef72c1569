#!/usr/bin/env bash
# Runs COMMAND inside a one-node Slurm cluster of this machine, made for it in DIR and torn
# down after it: slurmctld and slurmd (Debian's slurm-wlm) as root, auth/none, free ports,
# state and logs under DIR; SLURM_CONF points srun at it. Exits with COMMAND's status.
#   slurm_cluster.sh DIR COMMAND...
set -u
dir=$1
shift
rm -rf "$dir" && mkdir -p "$dir/state" "$dir/spool" || exit 1
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}
node=$(hostname)
cat > "$dir/slurm.conf" <<CONF
ClusterName=dstest
SlurmctldHost=$node
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/linear
ReturnToService=2
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf
# Stops both daemons and waits until they are gone (slurmctld takes seconds after SIGTERM;
# left running it keeps writing into DIR and holds its ports), SIGKILL after 20 s.
stop() {
  local pids=() p
  for d in slurmd slurmctld; do
    [ -s "$dir/$d.pid" ] && pids+=("$(cat "$dir/$d.pid")")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null
  for ((i = 0; i < 40; ++i)); do
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && break; p=; done
    [ -z "$p" ] && return 0
    sleep 0.5
  done
  kill -9 "${pids[@]}" 2>/dev/null
}
trap stop EXIT
slurmctld -i || { echo "slurm_cluster.sh: slurmctld did not start ($dir/slurmctld.log)" >&2; exit 1; }
slurmd || { echo "slurm_cluster.sh: slurmd did not start ($dir/slurmd.log)" >&2; exit 1; }
for ((i = 0; i < 60; ++i)); do
  sinfo -h -o %t 2>/dev/null | grep -q '^idle' && break
  sleep 0.5
done
sinfo -h -o %t 2>/dev/null | grep -q '^idle' ||
  { echo "slurm_cluster.sh: the node did not come up ($dir/slurmd.log)" >&2; exit 1; }
"$@"
