"""Checks a --memory-timeline-stages SVG against --memory-report=json of each stage:
    check_timeline_panels.py CHART.svg HEADING REPORT.json [HEADING REPORT.json ...]
One panel per pair, in order, headed HEADING; each panel's data-peak-bytes is its report's
per_rank.device, and its stacked areas reach that peak on the chart's one byte scale (the
highest polygon point of the panel with the largest peak is its top edge)."""
import json
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
svg = ET.parse(sys.argv[1]).getroot()
pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
panels = [g for g in svg.iter(NS + "g") if g.get("class") == "panel"]
assert len(panels) == len(pairs), (len(panels), pairs)
out = []
tops = []
for g, (heading, report) in zip(panels, pairs):
    texts = [t.text for t in g.iter(NS + "text")]
    assert texts[0] == heading, (texts[0], heading)
    peak = int(g.get("data-peak-bytes"))
    device = json.load(open(report))["per_rank"]["device"]
    assert peak == device, (heading, peak, device)
    ys = [float(p.split(",")[1]) for poly in g.iter(NS + "polygon")
          for p in poly.get("points").split()]
    # The panel's plot spans [top, bottom]: the y of its zero tick is the bottom.
    zero = [float(t.get("y")) - 4 for t in g.iter(NS + "text") if t.text == "0 B"]
    assert zero, texts
    tops.append((peak, zero[0] - min(ys)))
    out.append("%s peak %d" % (heading, peak))
# One scale: drawn heights are proportional to the peaks.
(p0, h0), *rest = tops
for p, h in rest:
    assert abs(h / h0 - p / p0) < 0.01, tops
print("panels: " + ", ".join(out) + " = planned device bytes")
