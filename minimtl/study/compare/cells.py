"""The cells of a comparison's tables: a mean over seeds with its interval, a difference, a p-value."""

__all__ = ["interval", "percent", "auc_cell", "difference", "p_value", "seed_counts", "delong_cell"]


def interval(entry, scale=1.0, digits=3, signed=False, missing="n/a"):
    """'0.812 [0.790, 0.834]': a mean over seeds and its 95% interval (``scale`` 100 for percent,
    ``signed`` for differences), or ``missing`` when undefined."""
    if not entry or entry["mean"] is None:
        return missing
    number = f"{{:{'+' if signed else ''}.{digits}f}}".format
    if entry["ci95"] is None:
        return number(scale * entry["mean"])
    low, high = entry["ci95"]
    return f"{number(scale * entry['mean'])} [{number(scale * low)}, {number(scale * high)}]"


def percent(entry):
    """A rate's mean and interval in percent."""
    return interval(entry, scale=100, digits=1)


def auc_cell(entry):
    """A ROC-AUC's mean and interval."""
    return interval(entry)


def difference(paired, scale=100, digits=1):
    """'+1.2 [-3.0, +5.4]' (mean paired difference and its t interval), '' when undefined."""
    return interval(paired, scale, digits, signed=True, missing="")


def p_value(value):
    """'0.032', '<0.001', or '' when undefined."""
    return "" if value is None else (f"{value:.3f}" if value >= 0.001 else "<0.001")


def seed_counts(paired):
    """'3/1/1': seeds where the model is better, worse, equal."""
    return f"{paired['seeds_better']}/{paired['seeds_worse']}/{paired['seeds_equal']}" if paired else ""


def delong_cell(paired):
    """'2 of 5 (+1/-1)': seeds whose DeLong p < 0.05, and how many of those favour the model."""
    results = [r for r in (paired or {}).get("delong", []) if r is not None and r["p"] == r["p"]]
    if not results:
        return ""
    significant = [r for r in results if r["p"] < 0.05]
    better = sum(r["difference"] > 0 for r in significant)
    return f"{len(significant)} of {len(results)} (+{better}/-{len(significant) - better})"
