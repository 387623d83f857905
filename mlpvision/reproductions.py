"""docs/reproductions.md from a sweep's ``summary.json``: per study its claim and source, the command, the table
(mean ± std over seeds), a plot, the scale and a verdict computed from the numbers.

A study (``study.sections`` of the sweep's YAML file) names its configurations and its claims; a claim compares
configuration ``a`` with ``b`` on a metric (``test_top1``, or ``top1:<condition>`` / ``change:<condition>`` of the
robustness conditions) and expects ``higher``, ``lower`` or ``equal``. The difference of the means is *resolved*
when it is larger than twice its standard error, √(s_a²/n_a + s_b²/n_b) (about a 95% two-sided test for normal
seed-to-seed noise): a resolved difference the claim expects is "reproduced", one against it "contradicted", and an
unresolved one "not resolved at this scale" — except for ``equal`` claims, which an unresolved difference supports.
"""

import math
import os
from pathlib import Path
from typing import Any

from .sweep import format_stat, metric

REPRODUCED, NOT_RESOLVED, CONTRADICTED = "reproduced", "not resolved at this scale", "contradicted"


def claim_verdict(summary: dict[str, Any], claim: dict[str, Any]) -> tuple[str, str]:
    """(verdict, the numbers behind it) for one claim of a study."""
    configs = {entry["config"]: entry for entry in summary["configs"]}
    for side in ("a", "b"):
        if claim[side] not in configs:
            raise ValueError(f"claim {claim['text']!r} names {claim[side]!r}, not a configuration of the sweep")
    name = claim.get("metric", "test_top1")
    a, b = (metric(configs[claim[side]], name) for side in ("a", "b"))
    if min(a["n"], b["n"]) < 2:
        return NOT_RESOLVED, f"fewer than 2 finished seeds (n = {a['n']}, {b['n']})"
    difference = a["mean"] - b["mean"]
    error = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    numbers = f"{claim['a']} − {claim['b']} = {difference:+.2f} ± {error:.2f} points (n = {a['n']}, {b['n']})"
    resolved = abs(difference) > 2 * error
    expect = claim["expect"]
    if expect == "equal":
        return (CONTRADICTED if resolved else REPRODUCED + " (no difference resolved)"), numbers
    if expect not in ("higher", "lower"):
        raise ValueError(f"claim {claim['text']!r}: expect must be higher, lower or equal, got {expect!r}")
    if not resolved:
        return NOT_RESOLVED, numbers
    return (REPRODUCED if (difference > 0) == (expect == "higher") else CONTRADICTED), numbers


def _metric_title(name: str) -> str:
    kind, _, condition = name.partition(":")
    return f"{'Δ top-1' if kind == 'change' else 'top-1'}, {condition}" if condition else "test top-1 %"


def section_table(summary: dict[str, Any], section: dict[str, Any]) -> str:
    """The study's markdown table: its configurations, mean ± std over seeds."""
    configs = {entry["config"]: entry for entry in summary["configs"]}
    extra = section.get("metrics", [])
    header = ["configuration", "seeds", "test top-1 %", "params", "GMACs", "train s", "images/s",
              *(_metric_title(name) for name in extra)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for label in section["configs"]:
        entry = configs[label]
        cells = [label, str(entry["n"]), format_stat(entry["test_top1"]),
                 f"{entry['params']:,}" if entry["params"] is not None else "–",
                 f"{entry['gmacs']:.4f}" if entry["gmacs"] is not None else "–",
                 format_stat(entry["train_seconds"], 0), format_stat(entry["images_per_s"], 0)]
        for name in extra:
            kind, _, condition = name.partition(":")
            cells.append(format_stat(metric(entry, name)) if condition in entry["robustness"] else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_section(summary: dict[str, Any], section: dict[str, Any], out_png: Path) -> None:
    """Bars of the study's metrics per configuration (mean; error bar: std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = {entry["config"]: entry for entry in summary["configs"]}
    names = ["test_top1", *(name.replace("change:", "top1:") for name in section.get("metrics", []))]
    labels = section["configs"]
    width = 0.8 / len(names)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.3 * len(labels) * max(1, len(names) / 2)), 4.0))
    for index, name in enumerate(names):
        stats = [metric(configs[label], name) if name == "test_top1" or name.partition(":")[2]
                 in configs[label]["robustness"] else {"mean": None, "std": None} for label in labels]
        positions = [i + (index - (len(names) - 1) / 2) * width for i in range(len(labels))]
        axis.bar(positions, [s["mean"] or 0 for s in stats], width, yerr=[s["std"] or 0 for s in stats], capsize=3,
                 label="as is" if name == "test_top1" else name.partition(":")[2])
    axis.set_xticks(range(len(labels)), labels, rotation=15 if len(labels) > 3 else 0, fontsize=8)
    axis.set(ylabel="test top-1 (%)")
    axis.set_title(section["title"], fontsize=9)
    if len(names) > 1:
        axis.legend(fontsize=7)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, dpi=100)
    plt.close(figure)


def write_docs(results_dir: Path, docs_path: Path) -> list[tuple[str, list[str]]]:
    """Write ``docs_path`` (and one plot per study in ``results_dir``) from ``results_dir/summary.json``; returns
    each study's id with its claims' verdicts."""
    import json

    summary_path = results_dir / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path}: no sweep summary (run `mlpvision sweep --summary {results_dir}`)")
    summary = json.loads(summary_path.read_text())
    study = summary.get("study") or {}
    if not study.get("sections"):
        raise ValueError(f"{summary_path}: the sweep's YAML file has no study.sections to write a page from")
    relative = Path(os.path.relpath(results_dir, docs_path.parent))
    spec = summary["spec"]
    lines = [
        f"# {study.get('title', 'Reproductions')}", "",
        f"Generated by `mlpvision sweep --docs {docs_path} --results-dir {results_dir}` from "
        f"`{results_dir}/summary.json` (written {summary['written_at']}; {summary['finished_runs']} of "
        f"{summary['planned_runs']} runs finished; {summary['machine']['processor']}, "
        f"{summary['machine']['cpu_count']} CPUs, torch {summary['machine']['torch']}, "
        f"device {summary['machine']['device']}).", "",
        "Each number is the mean ± sample standard deviation over the seeds that finished. A difference is "
        "*resolved* when it exceeds twice its standard error; verdicts: **reproduced**, **not resolved at this "
        "scale** (the difference lies within the seeds' spread), **contradicted**. These are small-scale checks of "
        "the papers' directions, not of their ImageNet numbers.", "",
        "## Scale and command", "", study.get("scale", ""), "",
        "```bash", *study.get("commands", []), "```", "",
        f"The sweep's file: [`{study.get('config_file', 'sweep.yaml')}`]"
        f"({os.path.relpath(study['config_file'], docs_path.parent) if study.get('config_file') else ''}); "
        f"seeds {', '.join(map(str, spec['seeds']))}. All configurations: "
        f"![accuracy vs parameters]({relative / 'accuracy_vs_params.png'}) "
        f"![accuracy vs training time]({relative / 'accuracy_vs_time.png'})", "",
    ]
    verdicts = []
    for section in study["sections"]:
        plot = results_dir / f"study_{section['id']}.png"
        plot_section(summary, section, plot)
        claims = [(claim, *claim_verdict(summary, claim)) for claim in section.get("claims", [])]
        configs = {entry["config"]: entry for entry in summary["configs"]}
        seconds = sum(configs[label]["train_seconds"]["mean"] * configs[label]["n"] for label in section["configs"]
                      if configs[label]["n"])
        lines += [
            f"## {section['title']}", "",
            f"**Claim** ({section['source']}): {section['claim']}", "",
            "**Verdict at this scale:**", "",
            *(f"- {claim['text']}: **{verdict}** — {numbers}" for claim, verdict, numbers in claims), "",
            section_table(summary, section), "",
            f"Training time of this study's finished runs: {seconds / 60:.1f} min in all (the sum of their training "
            f"seconds).", "",
            f"![{section['id']}]({relative / plot.name})", "",
            *([section["note"], ""] if section.get("note") else []),
        ]
        verdicts.append((section["id"], [verdict for _, verdict, _ in claims]))
    if summary["finished_runs"] < summary["planned_runs"]:
        lines += ["## Not finished", "",
                  f"{summary['planned_runs'] - summary['finished_runs']} of the {summary['planned_runs']} runs had not "
                  f"finished when this page was written; the sweep command above continues them (finished runs are "
                  f"kept), and the page is regenerated with the last command.", ""]
    if summary["failed"]:
        lines += ["## Runs that failed", "", *(f"- {f['config']} seed {f['seed']}: {f['error']}"
                                               for f in summary["failed"]), ""]
    docs_path.parent.mkdir(parents=True, exist_ok=True)
    docs_path.write_text("\n".join(lines))
    return verdicts
