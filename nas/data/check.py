"""`nas data check`: scan a whole dataset folder and report what is in it and what is wrong.

Unlike the dataset, which stops at the first bad file, the check reads every pair and collects
all problems, so one run tells the user everything to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nas.data.layout import Layout, detect_layout
from nas.errors import UserError


@dataclass
class CheckReport:
    """What a scan found.

    Args:
        images: pairs per split (split "" = an unsplit plain folder).
        pixels: pixel count per trainId (index 255 = ignored), over all splits.
        images_with: per trainId, how many images contain it.
        problems: one line per problem, each naming a file.
    """

    layout: Layout
    images: dict[str, int] = field(default_factory=dict)
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    images_with: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    problems: list[str] = field(default_factory=list)

    def format(self) -> str:
        names = self.layout.class_names
        lines = [f"dataset: {self.layout.root} ({self.layout.kind} layout)"]
        for split, n in self.images.items():
            lines.append(f"  split {split or '(unsplit)'}: {n} images")
        total = max(int(self.pixels.sum()), 1)
        present = [k for k in range(len(names)) if self.pixels[k] > 0]
        lines.append(f"classes present: {len(present)} of {len(names)}")
        lines.append(f"  {'trainId':>7}  {'class':<16} {'pixels %':>9} {'images':>7}")
        for k, name in enumerate(names):
            lines.append(
                f"  {k:>7}  {name:<16} {100 * self.pixels[k] / total:>9.3f} "
                f"{int(self.images_with[k]):>7}"
            )
        lines.append(f"  {'255':>7}  {'(ignored)':<16} {100 * self.pixels[255] / total:>9.3f}")
        missing = [names[k] for k in range(len(names)) if self.pixels[k] == 0]
        if missing:
            lines.append(f"classes never seen: {', '.join(missing)}")
        lines.append(f"problems: {len(self.problems)}")
        lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


def check_dataset(root: str | Path, splits: list[str] | None = None) -> CheckReport:
    """Read every pair of every split (or of `splits`); a missing folder is a `UserError`."""
    layout = detect_layout(root)
    report = CheckReport(layout)
    for split in splits if splits is not None else layout.splits():
        pairs, problems = layout.find_pairs(split)
        report.problems.extend(problems)
        report.images[split] = len(pairs)
        for image_path, label_path in pairs:
            try:
                _, train_ids = layout.load_pair(image_path, label_path)
            except UserError as err:
                report.problems.append(str(err))
                continue
            counts = np.bincount(train_ids.ravel(), minlength=256)
            report.pixels += counts
            report.images_with += counts > 0
    return report
