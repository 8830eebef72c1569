"""Checks ds-run's fp16 loss-scale trajectory against DeepSpeed's stage-0 scaler.

  check_loss_scale.py METRICS.json INITIAL_POWER WINDOW MIN_OVERFLOWS

The stage-0 scaler (FP16_Optimizer) has no hysteresis, so each step's overflow is visible
in the sequence: the scale halves after an overflowed step and nowhere else. Replaying
REFERENCE.md section 5 with those overflows must give the whole sequence, doublings after
window + 1 clean steps and then every window included.
"""
import json
import sys


def same(a, b):
    # ds-run prints 9 significant digits.
    return abs(a - b) <= 1e-7 * abs(b)


def main():
    scales = json.load(open(sys.argv[1]))["loss_scale"]
    power, window, min_overflows = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if not same(scales[0], 2.0 ** power):
        sys.exit("the first step ran at %g, not 2^%d" % (scales[0], power))
    overflow = [scales[i + 1] < scales[i] and not same(scales[i + 1], scales[i])
                for i in range(len(scales) - 1)]
    if sum(overflow[:min_overflows]) != min_overflows:
        sys.exit("expected the first %d steps to overflow at scales from 2^%d: %s"
                 % (min_overflows, power, scales[:min_overflows + 1]))
    s, it, last = 2.0 ** power, 0, -1
    for i, o in enumerate(overflow):
        if not same(scales[i], s):
            sys.exit("step %d ran at %g, the algorithm gives %g" % (i + 1, scales[i], s))
        if o:
            s = max(s / 2, 1.0)
            last = it
        else:
            k = it - last - 1
            if k > 0 and k % window == 0:
                s *= 2
        it += 1
    print("loss scale: %d steps follow the scaler (%d overflows)" % (len(scales), sum(overflow)))


if __name__ == "__main__":
    main()
