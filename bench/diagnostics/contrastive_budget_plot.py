"""Plot and tabulate contrastive_budget.py's JSON lines: ACC (labels score only) and the label-free probe loss
against the encoder's steps, one line per dataset / seed / encoder shape. Writes PNG and markdown beside the
first input.

    python bench/diagnostics/contrastive_budget_plot.py bench/results/diagnostics/contrastive_budget_h200.jsonl
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

paths = [Path(p) for p in sys.argv[1:]]
runs = defaultdict(list)
for path in paths:
    for line in path.read_text().splitlines():
        r = json.loads(line)
        runs[(r["dataset"], r["seed"], r["width"], r["batch"])].append(r)
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
table = ["| dataset | seed | width | batch | device | steps: ACC (probe loss) |", "|---|---|---|---|---|---|"]
for key in sorted(runs):
    rs = sorted(runs[key], key=lambda r: r["step"])
    label = "{} s{} w{} b{}".format(*key)
    steps = [r["step"] for r in rs]
    ax_acc.plot(steps, [r["acc"] for r in rs], marker="o", label=label)
    ax_loss.plot(steps, [r["probe_loss"] for r in rs], marker="o", label=label)
    cells = ", ".join(f"{r['step']}: {r['acc']:.3f} ({r['probe_loss']:.3f})" for r in rs)
    table.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {rs[0]['device']} | {cells} |")
for ax, name in ((ax_acc, "ACC (labels score only)"), (ax_loss, "NT-Xent on fixed probe views (label-free)")):
    ax.set_xscale("log")
    ax.set_xlabel("contrastive encoder steps")
    ax.set_title(name)
    ax.grid(alpha=0.3)
ax_acc.legend(fontsize=7)
fig.tight_layout()
out = paths[0].with_suffix("")
fig.savefig(f"{out}.png", dpi=110)
Path(f"{out}.md").write_text("\n".join(table) + "\n")
print("\n".join(table))
print(f"wrote {out}.png and {out}.md")
