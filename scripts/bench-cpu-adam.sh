#!/usr/bin/env bash
# CPU Adam benchmark (issue 11, item 6a): our adam_update (AdamW, f32 param, grad and moments,
# in place) in params/s, beside the memory-bandwidth bound measured in the same run and
# torch.optim.AdamW on the CPU at the same thread count. Prints one markdown table. Not a test.
#
#   scripts/bench-cpu-adam.sh [--params N] [--threads "T1 T2 ..."] [--iters K] [--isa NAME]
#
# N parameters (default 2^26 = 67108864, one tensor), T threads (default: all cores, `nproc`;
# a list gives one row each), K timed rounds (default 10; the best round counts, for every
# loop alike), --isa forces the kernel's instruction set (avx512, avx2, sse2, scalar; default: the
# best the processor runs). For each T:
#   build/bin/ds-bench-optimizer: adam_update through findCpuKernel (the executor's entry),
#     and in the same process, interleaved with it, STREAM-like loops over four more arrays
#     of the same size on the same threads: copy (16 bytes/param counted), triad (12) and an
#     in-place update with adam_update's traffic (p, g, m, v read, p, m, v written: 28).
#     bandwidth = the best of the three; bound = bandwidth / 28 bytes per parameter; ours %
#     of the bound from the best rounds, and the median of the ratio within each round (the
#     steadier figure on a machine whose load changes).
#   /usr/bin/python3 + torch: torch.set_num_threads(T), torch.optim.AdamW (lr 1e-3, weight
#     decay 0.01) on one tensor of N, default (foreach=None) and foreach=True; the faster is
#     the reference of the speed-up.
# Needs a build (scripts/build.sh when build/ is missing; ninja builds ds-bench-optimizer) and
# PyTorch under /usr/bin/python3 (Debian's python3-torch or scripts/setup.sh --models).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DS_BUILD_DIR:-$ROOT/build}
PY=/usr/bin/python3
PARAMS=$((1 << 26)) THREADS=$(nproc) ITERS=10 ISA=
COMMAND=scripts/bench-cpu-adam.sh
[ $# -eq 0 ] || COMMAND+=$(printf ' %q' "$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --isa) ISA=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-cpu-adam: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$PARAMS" "$ITERS" $THREADS; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-cpu-adam: '$v' is not a positive integer" >&2; exit 2; }
done
"$PY" -c 'import torch' 2>/dev/null ||
  { echo "bench-cpu-adam: PyTorch is not importable by $PY (scripts/setup.sh --models)" >&2; exit 1; }
[ -f "$BUILD/build.ninja" ] || bash "$ROOT/scripts/build.sh" >&2
ninja -C "$BUILD" ds-bench-optimizer >&2

torch_adamw() { # N T K -> "default foreach" params/s
  "$PY" - "$@" <<'PY'
import sys, time, torch
n, t, iters = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(t)
rates = []
for foreach in (None, True):
    p = torch.nn.Parameter(0.5 + 1e-4 * (torch.arange(n, dtype=torch.float32) % 1000))
    p.grad = -1e-2 + 2e-5 * (torch.arange(n, dtype=torch.float32) % 1000)
    opt = torch.optim.AdamW([p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                            foreach=foreach)
    opt.step()  # warm-up: allocates the moments
    best = float("inf")
    for _ in range(iters):
        t0 = time.perf_counter()
        opt.step()
        best = min(best, time.perf_counter() - t0)
    rates.append(n / best)
    del opt, p
print(*("%.6e" % r for r in rates))
PY
}

value() { sed -n "s/^$1 //p" <<<"$2"; }
mega() { awk -v x="$1" 'BEGIN { printf "%.0f", x / 1e6 }'; }
giga() { awk -v x="$1" 'BEGIN { printf "%.1f", x / 1e9 }'; }

rows=()
for T in $THREADS; do
  ours=$("$BUILD/bin/ds-bench-optimizer" --params "$PARAMS" --threads "$T" --iters "$ITERS" \
    ${ISA:+--isa "$ISA"})
  read -r tdef tfor < <(torch_adamw "$PARAMS" "$T" "$ITERS")
  rate=$(value adamw_params_per_s "$ours")
  bound=$(value bound_params_per_s "$ours")
  rows+=("$(awk -v T="$T" -v isa="$(value isa "$ours")" -v r="$rate" -v b="$bound" \
    -v bw="$(value bw_bytes_per_s "$ours")" -v c="$(value bw_copy_bytes_per_s "$ours")" \
    -v tr="$(value bw_triad_bytes_per_s "$ours")" -v u="$(value bw_update_bytes_per_s "$ours")" \
    -v med="$(value percent_of_bound_median_round "$ours")" \
    -v td="$tdef" -v tf="$tfor" 'BEGIN {
      best = td > tf ? td : tf
      printf "| %d | %s | %.0f | %.1f (%.1f / %.1f / %.1f) | %.0f | %.0f%% (%.0f%%) | %.0f | %.0f | %.2fx |",
        T, isa, r / 1e6, bw / 1e9, c / 1e9, tr / 1e9, u / 1e9, b / 1e6, 100 * r / b, med,
        td / 1e6, tf / 1e6, r / best }')")
done

echo "CPU AdamW step, $PARAMS fp32 parameters (one tensor), best of $ITERS rounds"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores visible; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
echo "- torch $("$PY" -c 'import torch; print(torch.__version__)') (CPU, $PY)"
echo "- command: \`$COMMAND\`"
echo
echo "| threads | ours: ISA | ours Mparams/s | bandwidth GB/s (copy / triad / update) | bound Mparams/s (= bw / 28 B) | ours % of bound (median of per-round ratios) | torch AdamW default Mparams/s | torch foreach=True Mparams/s | ours / faster torch |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
