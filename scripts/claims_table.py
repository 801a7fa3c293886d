"""Markdown tables of the claims tier's outcomes, for docs/results/claims.md.

Reads the JSON lines that tests/test_claims.py appends to ``$CTFLOW_CLAIMS_LOG`` (the claims tier
itself, ``make verify``, and its negative controls, ``make negative-controls``) and prints, per
experiment, each claim with its value at quick size and whether each negative control broke it.

    python scripts/claims_table.py runs/claims.jsonl runs/claims-negative.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def main(paths: list[str]) -> None:
    quick: dict[str, dict] = {}
    controls: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if row["control"] is None:
                    quick[row["experiment"]] = row
                else:
                    controls[row["experiment"]].append(row)
    names = sorted(set(quick) | set(controls))
    broken_total = claims_total = validity_total = 0
    for name in names:
        section = (quick.get(name) or controls[name][0])["section"]
        print(f"### {name} ([{section}]({section}))\n")
        ctrl = sorted(controls[name], key=lambda r: r["control"])
        header = ["claim", "quick run (seed 0)"] + [f"control {i + 1}" for i in range(len(ctrl))]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        outcomes = (quick.get(name) or ctrl[0])["claims"]
        for outcome in outcomes:
            label = outcome["label"]
            validity = outcome.get("validity", False)
            cells = [label + (" *(validity check)*" if validity else "")]
            if name in quick:
                o = next(o for o in quick[name]["claims"] if o["label"] == label)
                cells.append(("holds: " if o["ok"] else "FAILS: ") + o["detail"])
            else:
                cells.append("(not run)")
            broken = False
            for row in ctrl:
                o = next((o for o in row["claims"] if o["label"] == label), None)
                if o is None:
                    cells.append("not reached")
                else:
                    cells.append(("still holds: " if o["ok"] else "**fails**: ") + o["detail"])
                    broken |= not o["ok"]
            claims_total += 1
            broken_total += broken
            validity_total += validity and not broken
            print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        for i, row in enumerate(ctrl):
            print(f"\nControl {i + 1}: {row['control']}.")
        print()
    print(
        f"{broken_total} of {claims_total} claims fail under at least one negative control; "
        f"{validity_total} are validity checks that no control breaks."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
