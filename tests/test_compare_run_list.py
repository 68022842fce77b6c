"""compare's table.md lists every run on a line of its own: seed by seed, each task's scored epoch, collapse
verdict, ROC-AUC and precision / recall, and the TB model at each external site."""

from minimtl.study.compare.report import render_table
from minimtl.study.compare.run_list import render_run_list, run_rows
from minimtl.study.compare.summarise import summarise


def metrics(auc, precision=0.8, recall=0.7, confusion=((5, 1), (2, 6))):
    return {
        "roc_auc": {"value": auc, "ci95": [0, 1]},
        "precision": {"value": precision},
        "recall": {"value": recall},
        "specificity": {"value": 0.5},
        "f1": 0.5,
        "confusion_matrix": [list(r) for r in confusion],
    }


def external(da, db):
    return {"india": {"tasks": {"tb": {"sites": {"da": {"roc_auc": {"value": da}}, "db": {"roc_auc": {"value": db}}}}}}}


def per_run():
    return {
        ("single-tb", 0): {"tasks": {"tb": metrics(0.866)}, "epochs": {"trained": 11, "model": {"tb": 8}},
                           "collapsed": {"tb": False}, "external": external(0.469, 0.598)},
        ("multitask64", 0): {"tasks": {"tb": metrics(0.548), "pneumonia": metrics(0.989, 0.961, 0.975)},
                             "epochs": {"trained": 10, "model": {"tb": 6, "pneumonia": 9}},
                             "collapsed": {"tb": False, "pneumonia": False}, "external": external(0.206, 0.515)},
        # a run made before collapse verdicts were recorded: decided by its test predictions (all one class)
        ("single-tb", 1): {"tasks": {"tb": metrics(0.5, None, 0.0, confusion=((6, 0), (8, 0)))},
                           "epochs": {"trained": 4, "model": {"tb": 4}}},
        ("multitask64", 1): {"tasks": {"tb": metrics(0.777), "pneumonia": metrics(0.986)},
                             "epochs": {"trained": 26, "model": {"tb": 23, "pneumonia": 23}},
                             "collapsed": {"tb": True, "pneumonia": False}},
    }  # fmt: skip


def test_runs_are_listed_seed_by_seed_with_each_task_and_site():
    rows = run_rows(per_run(), [0, 1], ["single-tb", "multitask64"])
    assert [(r["seed"], r["variant"]) for r in rows] == [
        (0, "single-tb"), (0, "multitask64"), (1, "single-tb"), (1, "multitask64")
    ]  # fmt: skip
    assert rows[1]["tasks"]["pneumonia"] == {
        "epoch": 9, "collapsed": False, "collapse_decided": "before the test", "roc_auc": 0.989, "precision": 0.961,
        "recall": 0.975,
    }  # fmt: skip
    assert rows[0]["external"] == {"india/da": 0.469, "india/db": 0.598} and rows[2]["external"] == {}
    assert rows[2]["tasks"]["tb"]["collapsed"] is True  # not recorded: every test image one class
    assert rows[2]["tasks"]["tb"]["collapse_decided"] == "on the test"
    assert rows[3]["tasks"]["tb"]["collapsed"] is True  # recorded before the test: kept as recorded
    assert rows[3]["tasks"]["tb"]["collapse_decided"] == "before the test"
    lines = render_run_list(rows)
    assert lines[0] == "## Each run"
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| seed | variant | epochs trained | tb model's epoch | tb one class | tb ROC-AUC |")
    assert table[0].endswith("| india/da ROC-AUC | india/db ROC-AUC |")
    assert table[2] == "| 0 | single-tb | 11 | 8 | no | 0.866 | 80.0 / 70.0 | - | - | - | - | 0.469 | 0.598 |"
    assert table[3] == (
        "| 0 | multitask64 | 10 | 6 | no | 0.548 | 80.0 / 70.0 | 9 | no | 0.989 | 96.1 / 97.5 | 0.206 | 0.515 |"
    )
    assert table[4] == "| 1 | single-tb | 4 | 4 | yes (test) | 0.500 | - / 0.0 | - | - | - | - | - | - |"
    assert len(table) == 2 + 4


def test_a_run_missing_from_a_seed_is_left_out_and_no_runs_give_no_section():
    runs = per_run()
    del runs[("multitask64", 1)]
    rows = run_rows(runs, [0, 1], ["single-tb", "multitask64"])
    assert [(r["seed"], r["variant"]) for r in rows] == [(0, "single-tb"), (0, "multitask64"), (1, "single-tb")]
    assert render_run_list([]) == []
    only_tb = run_rows({k: v for k, v in runs.items() if k[0] == "single-tb"}, [0, 1], ["single-tb"])
    header = render_run_list(only_tb)[4]
    assert header.startswith("| seed |") and "pneumonia" not in header  # no columns for a task no run has


def test_table_md_ends_with_the_runs_when_given():
    runs = per_run()
    settings = {
        "protocol": "honest", "image_size": 64, "epochs": 5, "patience": 0, "batch_size": 8, "seeds": [0, 1],
        "split": "patient", "val_fraction": 0.1, "model_choice": "each task's best validation epoch",
    }  # fmt: skip
    summary = summarise(runs, [0, 1])
    table = render_table(summary, settings, runs=run_rows(runs, [0, 1], ["single-tb", "multitask64"]))
    last = "| 1 | multitask64 | 26 | 23 | yes | 0.777 | 80.0 / 70.0 | 23 | no | 0.986 | 80.0 / 70.0 | - | - |"
    assert table.rstrip().endswith(last)
    assert "## Each run" not in render_table(summary, settings)
