"""Prints FITS/OVER (the arena's planned peak against LIMIT GiB), the peak, the parameters
and the optimizer states in GiB, from a `ds-opt --memory-timeline` CSV: the arena columns
(activations, collective buffers, gaps) at the timeline's highest row are its peak.
Usage: arena_peak.py TIMELINE.csv LIMIT_GIB"""
import csv
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
limit = float(sys.argv[2])
arena = max(int(r["activations"]) + int(r["collective_buffers"]) + int(r["arena_gaps"])
            for r in rows)
print("FITS" if arena <= limit * 2**30 else "OVER", round(arena / 2**30, 2),
      round(max(int(r["parameters"]) for r in rows) / 2**30, 2),
      round(max(int(r["optimizer_states"]) for r in rows) / 2**30, 2))
