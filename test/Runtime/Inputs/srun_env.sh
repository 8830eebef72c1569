#!/usr/bin/env bash
# Starts N copies of a command with the environment Slurm's `srun -n N` gives its tasks on one
# node when no PMI plugin is configured (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
# SLURM_NODEID, SLURM_JOB_ID, SLURM_STEP_NODELIST=localhost, ...). A simulation: Slurm's
# daemons (slurmctld, slurmd, munge) are not run in tests. No MASTER_ADDR/MASTER_PORT: ranks
# must find rank 0 from the node list and a port derived from the job id (15000 + id % 10000),
# so the job id is chosen to make that port a free one.
#   srun_env.sh N COMMAND...
set -u
n=$1
shift
job=$(/usr/bin/python3 -c '
import random, socket
for _ in range(200):
    p = random.randrange(15000, 25000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(100000 + p - 15000)
    break
')
pids=()
for ((r = 0; r < n; ++r)); do
  env -u RANK -u WORLD_SIZE -u MASTER_ADDR -u MASTER_PORT -u PMIX_RANK -u PMI_SIZE \
    -u OMPI_COMM_WORLD_SIZE SLURM_JOB_ID=$job SLURM_JOBID=$job SLURM_STEP_ID=0 \
    SLURM_PROCID=$r SLURM_LOCALID=$r SLURM_NODEID=0 SLURM_NTASKS=$n SLURM_NPROCS=$n \
    SLURM_NTASKS_PER_NODE=$n SLURM_JOB_NUM_NODES=1 SLURM_STEP_NODELIST=localhost \
    SLURM_JOB_NODELIST=localhost SLURM_NODELIST=localhost SLURMD_NODENAME=localhost "$@" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do
  wait "$p"
  rc=$?
  [ $rc -ne 0 ] && [ $status -eq 0 ] && status=$rc
done
exit $status
