#!/usr/bin/env bash
# The same training command on every worker of a Cloud TPU VM slice.
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_vm.sh \
#     --config=NAME_OR_FILE --workdir=/mnt/shared/runs/x
#
# Runs, through `gcloud compute tpus tpu-vm ssh --worker=all --command=...`,
#   cd $REPO_DIR && $SETUP && ENHANCE_JAX_DISTRIBUTED=on $PYTHON -m $MODULE ARGS
# on each worker; jax.distributed finds the coordinator (worker 0), the
# process count and id from the TPU VM metadata. The repo and its Python
# environment must already be on every worker (same path), and --workdir on a
# filesystem all workers see (Filestore/NFS, or a gcsfuse-mounted bucket):
# every worker writes its part of each checkpoint. Output of all workers is
# streamed here; Ctrl-C stops the ssh sessions (and with them the workers).
#
# Environment:
#   TPU_NAME, ZONE  the TPU VM (required)
#   PROJECT         GCP project (default: gcloud's configured one)
#   REPO_DIR        repo path on the workers (default: ~/enhance_jax)
#   SETUP           shell commands run first (e.g. "source ~/venv/bin/activate")
#   PYTHON          interpreter on the workers (default: python3)
#   MODULE          entry point (default: enhance_jax.train)
#   DRY_RUN=1       print the command and exit
set -euo pipefail

tpu=${TPU_NAME:?set TPU_NAME to the TPU VM name}
zone=${ZONE:?set ZONE to the TPU VM zone}
repo=${REPO_DIR:-\~/enhance_jax}
python=${PYTHON:-python3}
module=${MODULE:-enhance_jax.train}

remote="cd $repo"
[[ -n "${SETUP:-}" ]] && remote+=" && $SETUP"
remote+=" && ENHANCE_JAX_DISTRIBUTED=on $python -m $module"
for arg in "$@"; do remote+=" $(printf '%q' "$arg")"; done

cmd=(gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone")
[[ -n "${PROJECT:-}" ]] && cmd+=(--project="$PROJECT")
cmd+=(--worker=all "--command=$remote")
printed=$(printf '%q ' "${cmd[@]}")
echo "+ ${printed% }"
[[ -n "${DRY_RUN:-}" ]] && exit 0
exec "${cmd[@]}"
