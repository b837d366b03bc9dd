"""What the ``ssrl`` command prints: plain-text tables that read the same in a terminal and in a log,
and its help, where flags show no value type."""

from typer.core import TyperCommand, TyperGroup


class _Flags:
    """Help without a ``<bool>`` type beside flags (``--json``, ``--skip-bad``, ``--help``): they
    take no value, and ``--json true`` is refused."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.display_type_rich = lambda ctx: None
        return params


class FlagsCommand(_Flags, TyperCommand):
    pass


class FlagsGroup(_Flags, TyperGroup):
    pass


def table(header: list[str], rows: list[list]) -> str:
    """Columns padded to their widest cell, a rule under the header, floats to 3 decimals."""
    cells = [header] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_NAMES = {"top1": "top-1", "balanced_top1": "balanced accuracy"}


def _evaluation_table(result: dict, protocol: str) -> str:
    """Pretrained and floor side by side: top-1 (and balanced accuracy when the classes are
    unbalanced), the classes each classifier predicted, and the features' geometry."""
    start = result.get("floor", "random init")  # a run from published weights: those
    floor = f"{start} (= from scratch)" if protocol == "finetune" and start == "random init" else start
    columns = [(f"{protocol} top-1", "top1")] + ([("balanced accuracy", "balanced_top1")] if result["unbalanced"] else [])
    columns += [(f"classes predicted (of {result['classes']})", "predicted_classes"),
                ("anisotropy", "anisotropy"), ("effective rank", "effective_rank")]
    columns = [(name, key) for name, key in columns if key in result]
    rows = [[who] + [result[prefix + key] for _, key in columns] for who, prefix in (("pretrained", ""),
                                                                                     (floor, "random_init_"))]
    note = f"\nkNN: k = {result['k']} (--k to choose)" if "k" in result else ""
    return table(["backbone", *[name for name, _ in columns]], rows) + note


def _propagation_table(result: dict) -> str:
    """J, F and J&F of label propagation for the pretrained backbone, its floor and the pixel baseline."""
    rows = [[who] + [result[prefix + key] for key in ("J", "F", "J&F")]
            for who, prefix in (("pretrained", ""), (result.get("floor", "random init"), "random_init_"),
                                ("pixel colours", "pixel_"))]
    s = result["settings"]
    return (table(["features", "J (region)", "F (contour)", "J&F"], rows)
            + f"\n{result['n_objects']} objects in {result['n_videos']} videos; features: {result['features']}; "
              f"context: the first frame and the last {s['context']}; top-{s['topk']} within {s['radius']:g} of the "
              f"shorter side; temperature {s['temperature']:g}")


def _setting(point: dict) -> str:
    return f"{point['fraction']:g} of labels" if point["fraction"] is not None else f"{point['per_class']} per class"


def _mean_std(point: dict, key: str) -> str:
    return f"{point[key + '_mean']:.3f} ± {point[key + '_std']:.3f}"


def print_evaluation(result: dict, protocol: str, draws: int) -> None:
    """An evaluation result as ``ssrl evaluate`` prints it: the split, the table, warnings, verdict."""
    print(result["split"])
    if protocol == "fewshot":
        print(f"pretrained and random init: {result['classifier']}; from scratch: {result['scratch']}; "
              f"mean ± std over {draws} draws")
        figures = ("top1", "balanced_top1") if result["unbalanced"] else ("top1",)
        print(table(["labels", *[f"{who} {_NAMES[f]}" for f in figures for who in ("pretrained", "from scratch",
                                                                                    "random init")]],
                    [[f"{p['n_labels']} ({_setting(p)})", *(_mean_std(p, prefix + f) for f in figures
                                                            for prefix in ("", "scratch_", "random_init_"))]
                     for p in result["points"]]))
        if "plot" in result:
            print(f"label-efficiency plot: {result['plot']}")
    elif protocol == "propagate":
        print(_propagation_table(result))
    else:
        print(_evaluation_table(result, protocol))
    for warning in result.get("warnings", []) + [w for p in result.get("points", []) for w in p["warnings"]]:
        print(f"warning: {warning}")
    if "verdict" in result:
        print(f"verdict: {result['verdict']}" + ("; likely causes:" if result["causes"] else ""))
        print("".join(f"  - {cause}\n" for cause in result["causes"]), end="")
    if "saved" in result:
        print(f"saved: {result['saved']}")
