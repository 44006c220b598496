#!/usr/bin/env bash
# The GPU check of the distillation issue: the oracle student (gold labels as the teacher) on the
# synthetic corpus, at the demo configuration and at 100k and 200k rows with all 6 MiniLM layers.
# Step time, throughput and peak memory are in each run's metrics.jsonl / metrics.json.
#
# Usage: benchmarks/measure/distill_gpu.sh OUT_DIR [STUDENT]
#   STUDENT defaults to minilm (the offline package); pass a folder where it is not installed.
# Each run is capped by RUN_LIMIT seconds, and all of them by the epoch time DEADLINE when set
# (a leased machine's limit): a capped run keeps its checkpoint and its metrics.jsonl.
set -uo pipefail
out=${1:?usage: benchmarks/measure/distill_gpu.sh OUT_DIR [STUDENT]}
student=${2:-minilm}
limit=${RUN_LIMIT:-240}
rows=${ROWS:-200000}
mkdir -p "$out"
# The CLI without installing the package (the GPU machine runs the checkout as it is).
cli=(python -c 'import sys; from categorizer.cli import main; sys.argv[0] = "categorizer"; main()')

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.csv" 2>&1
python -c 'import torch, transformers; print("torch", torch.__version__, "transformers",
    transformers.__version__, "cuda", torch.cuda.is_available())' | tee "$out/versions.txt"

start=$(date +%s)
"${cli[@]}" synth --n "$rows" --seed 7 --out "$out/corpus.parquet" || exit 1
"${cli[@]}" label --input "$out/corpus.parquet" --teacher labels:category --out "$out/oracle.parquet" \
    || exit 1
echo "data: $(($(date +%s) - start)) s"

train() {  # NAME ARGS...: one training run, timed, its log kept beside its metrics
    local name=$1
    shift
    local t0=$(date +%s) cap=$limit
    if [[ -n ${DEADLINE:-} ]]; then cap=$((DEADLINE - t0 < limit ? DEADLINE - t0 : limit)); fi
    if ((cap < 10)); then echo "$name: skipped, no time left"; return; fi
    timeout "$cap" "${cli[@]}" train --data "$out/oracle.parquet" --student "$student" --gold-column category \
        --out "$out/$name" "$@" >"$out/$name.log" 2>&1
    echo "$name: exit $? in $(($(date +%s) - t0)) s"
    tail -n 25 "$out/$name.log"
}

# The demo configuration (3 layers, 10k rows), for the CPU-vs-GPU step time.
train demo_l3_10k --config configs/student_demo.toml
# All 6 layers on more rows: what it takes to reach 97% against gold.
train l6_100k --layers 6 --max-rows 100000 --epochs 3 --batch-size 64 --lr 2e-4
train l6_200k --layers 6 --max-rows 200000 --epochs 3 --batch-size 64 --lr 2e-4
