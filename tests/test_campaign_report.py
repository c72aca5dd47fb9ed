"""experiments/campaign_report.py keeps a run's committed curve when its TensorBoard logs live on another machine."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("campaign_report", ROOT / "experiments" / "campaign_report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def test_new_logs_continue_the_committed_curve():
    old = [[0.1, 1000, 30.0], [0.2, 2000, 30.5], [0.3, 3000, 30.7]]
    new = [(0.05, 3000, 30.8), (0.1, 4000, 30.9)]  # this machine's log, resumed at step 2000's checkpoint
    got = report.merged_curve(old, new, total_h=0.3)
    assert [s for _, s, _ in got] == [1000, 2000, 3000, 4000]
    assert abs(got[2][0] - 0.25) < 1e-12 and got[2][1:] == (3000, 30.8) and abs(got[3][0] - 0.3) < 1e-12


def test_a_gap_no_log_holds_resumes_from_the_checkpoint_wall_time():
    old = [[0.1, 1000, 30.0]]
    new = [(0.1, 70000, 31.0), (0.2, 71000, 31.1)]
    got = report.merged_curve(old, new, total_h=2.0)
    assert got[0] == (0.1, 1000, 30.0) and abs(got[-1][0] - 2.0) < 1e-12 and abs(got[1][0] - 1.9) < 1e-12


def test_either_side_alone():
    assert report.merged_curve([], [(0.1, 10, 1.0)]) == [(0.1, 10, 1.0)]
    assert report.merged_curve([[0.1, 10, 1.0]], []) == [(0.1, 10, 1.0)]
    assert report.merged_curve([], []) == []
