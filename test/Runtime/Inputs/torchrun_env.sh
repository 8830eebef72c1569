#!/usr/bin/env bash
# Starts N copies of a command the way torchrun starts its workers: RANK, LOCAL_RANK,
# WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in each one's
# environment; waits for all and exits with the first non-zero status.
#   torchrun_env.sh N COMMAND...
# (Debian's torch 1.13 torchrun fails on Python 3.11 before starting workers: its Std enum
# lookup returns None, so the tests start the workers with the same environment themselves.)
set -u
n=$1
shift
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
for ((r = 0; r < n; ++r)); do
  RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 \
    MASTER_PORT=$port "$@" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do
  wait "$p"
  rc=$?
  [ $rc -ne 0 ] && [ $status -eq 0 ] && status=$rc
done
exit $status
