#!/usr/bin/env bash
# N CPU processes of one run on this machine (development and tests).
#
#   launch/local_multiprocess.sh N [flags for python -m enhance_jax.train ...]
#
# Starts N processes joined through a loopback coordinator on a free port, with
# gloo CPU collectives. Each process reads, through enhance_jax/distributed.py:
#   ENHANCE_JAX_COORDINATOR=127.0.0.1:PORT  ENHANCE_JAX_NUM_PROCESSES=N
#   ENHANCE_JAX_PROCESS_ID=i
# Output lines are prefixed with [i]. If one process fails the others are killed
# and the script exits with its code; Ctrl-C (or SIGTERM) stops all of them.
# (A launcher started with & from a script ignores SIGINT, as bash does for
# background jobs: stop it with SIGTERM.)
#
# Environment (all optional):
#   PYTHON               interpreter (default: python3)
#   MODULE               entry point (default: enhance_jax.train; e.g. enhance_jax.evaluate)
#   DEVICES_PER_PROCESS  CPU devices per process (default 1)
#   PORT                 coordinator port (default: a free one)
#   ENHANCE_JAX_DIST_TIMEOUT  seconds to join, and to notice a dead peer (default 300)
#   DRY_RUN=1            print the commands and exit
set -euo pipefail

if [[ $# -lt 1 || ! "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 NUM_PROCESSES [train flags...]" >&2
  exit 2
fi
n=$1
shift
python=${PYTHON:-python3}
module=${MODULE:-enhance_jax.train}
devices=${DEVICES_PER_PROCESS:-1}
if [[ -z "${PORT:-}" ]]; then
  if [[ -n "${DRY_RUN:-}" ]]; then
    PORT=PORT
  else
    PORT=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
fi

run_env() {  # the environment of process $1
  echo JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=$devices \
    ENHANCE_JAX_COORDINATOR=127.0.0.1:$PORT ENHANCE_JAX_NUM_PROCESSES=$n ENHANCE_JAX_PROCESS_ID=$1
}
args=""
for arg in "$@"; do args+=" $(printf '%q' "$arg")"; done
for ((i = 0; i < n; i++)); do
  echo "+ $(run_env $i) $python -m $module$args"
done
[[ -n "${DRY_RUN:-}" ]] && exit 0

# Job control puts each child in its own process group, so a Ctrl-C reaches
# only this script, which sends each child one SIGTERM (the trainer then
# checkpoints and exits).
set -m
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "-$1" "$pid" 2>/dev/null || true; done
}
on_signal() {
  echo "local_multiprocess: stopping all $n processes" >&2
  stop_all TERM
  wait || true
  exit 130
}
trap on_signal INT TERM

for ((i = 0; i < n; i++)); do
  # shellcheck disable=SC2046
  env $(run_env $i) "$python" -m "$module" "$@" \
    > >(sed -u "s/^/[$i] /") 2> >(sed -u "s/^/[$i] /" >&2) &
  pids+=($!)
done

status=0
remaining=("${pids[@]}")
while ((${#remaining[@]})); do
  rc=0
  finished=""
  wait -n -p finished "${remaining[@]}" || rc=$?
  left=()
  for pid in "${remaining[@]}"; do [[ "$pid" != "$finished" ]] && left+=("$pid"); done
  remaining=("${left[@]}")
  if [[ $rc -ne 0 ]]; then
    status=$rc
    echo "local_multiprocess: a process exited with code $rc; stopping the others" >&2
    stop_all TERM
    sleep 3
    stop_all KILL
    break
  fi
done
wait || true
exit "$status"
