#!/bin/bash
# Queue the folds of a protocol as one Slurm job array, one fold per task, and
# the report (pooled predictions and metrics) as a job that starts only when
# every task has succeeded. See tools/slurm/README.md.
#
#   tools/slurm/submit.sh PROTOCOL FOLDS.json [SBATCH OPTIONS...] -- TRAIN-FOLD OPTIONS...
#
#   PROTOCOL            hde, cde or loso; FOLDS.json must hold that protocol's folds of
#                       the --index below (python3 -m microattention folds ... --out FOLDS.json)
#   SBATCH OPTIONS      for both jobs, after this script's defaults, so they win:
#                       --partition, --account, --time, --cpus-per-task, --mem, ...
#                       except two for the training array only:
#                       --max-running=K  at most K folds at once (sbatch --array=...%K)
#                       --array=SPEC     these tasks instead of the unfinished folds
#   TRAIN-FOLD OPTIONS  for every 'python3 -m microattention train-fold' and the report:
#                       --index, --faces, --weights, --run-dir (on storage all nodes share),
#                       [--net, --epochs, --seed]
#
# Only folds not finished yet are queued: the same command submitted again after
# a failure or a time limit trains what is missing, then reports. Logs go to
# RUN_DIR/slurm/. MA_EXEC, when set, prefixes every project command this script
# and the jobs run (the container: MA_EXEC="apptainer exec micro-attention.sif");
# sbatch itself runs outside it, the cluster's own.
# (Empty arrays are expanded as ${a[@]+"${a[@]}"}: bash 4.2, still on some
# clusters, calls a plain "${a[@]}" of an empty array unbound under set -u.)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage="usage: $0 PROTOCOL FOLDS.json [SBATCH OPTIONS...] -- TRAIN-FOLD OPTIONS..."
die() { echo "submit.sh: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "$usage"
protocol=$1 folds=$2
shift 2

both=() array=() limit=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case $1 in
    --max-running=*) limit=${1#*=} ;;
    --max-running) [ $# -ge 2 ] || die "$1 needs a value"; limit=$2; shift ;;
    --array=*|-a?*) array=("$1") ;;
    --array|-a) [ $# -ge 2 ] || die "$1 needs a value"; array=("$1" "$2"); shift ;;
    *) both+=("$1") ;;
  esac
  shift
done
case $limit in
  "") ;;
  *[!0-9]*|0*) die "--max-running $limit: give a whole number of folds, at least 1" ;;
esac
[ "${1:-}" = -- ] || die "no '--' before the train-fold options; $usage"
shift
command -v sbatch >/dev/null 2>&1 || die "sbatch not found: run this where Slurm's commands are"

# The fold file checked against the protocol and the index, the folds still to
# train, the file's checksum (every task checks it again) and the run folder.
# MA_EXEC is split into words on purpose (a command and its options).
plan=$(${MA_EXEC:-} python3 -m microattention.train.slurm plan --protocol "$protocol" \
         --folds "$folds" -- "$@") || exit 1
value() { echo "$plan" | sed -n "s/^$1=//p"; }
count=$(value count) pending=$(value pending) run_dir=$(value run_dir)
export MA_FOLDS_SHA256=$(value sha256)

mkdir -p "$run_dir/slurm"
dependency=() train=""
if [ ${#array[@]} -gt 0 ] || [ -n "$pending" ]; then
  [ ${#array[@]} -gt 0 ] || array=(--array="$pending")
  [ -z "$limit" ] || array[${#array[@]}-1]+="%$limit"
  train=$(sbatch --parsable --job-name=ma-train --output="$run_dir/slurm/%x_%A_%a.out" \
            ${both[@]+"${both[@]}"} "${array[@]}" \
            "$here/train_folds.sbatch" "$protocol" "$folds" -- "$@")
  train=${train%%;*}
  echo "training: job array $train, tasks ${array[*]#--array=} of the $count folds" \
       "(0-$((count - 1)))"
  dependency=(--dependency="afterok:$train" --kill-on-invalid-dep=yes)
else
  echo "training: all $count folds are finished already"
fi
report=$(sbatch --parsable --job-name=ma-report --output="$run_dir/slurm/%x_%j.out" \
           ${dependency[@]+"${dependency[@]}"} ${both[@]+"${both[@]}"} \
           "$here/report.sbatch" "$protocol" "$folds" -- "$@")
report=${report%%;*}
echo "report:   job $report${train:+ (after every task of $train succeeds)}"
echo "logs:     $run_dir/slurm/    results: $run_dir/$protocol/"
echo "watch:    squeue -j ${train:+$train,}$report"
