"""DDP on CPU: two gloo processes set up as torchrun would (RANK, WORLD_SIZE, MASTER_*) run `gansr sr train`,
stay bit-identical to each other and match one process with the same global batch."""

from __future__ import annotations

import pytest
import torch

from gan_sr.data.synth import make_split_dirs
from gan_sr.io.checkpoints import load_checkpoint
from gan_sr.train.sr import SRTrainer
from gan_sr.train.sr_config import build_config

TINY = ('[model]\noverrides = {widths = [8, 4]}\n[data]\nhr_size = 16\n[eval]\nevery = 3\nmax_images = 1\n'
        '[log]\nevery = 1\ncheckpoint_every = 3\n')


def _rank(rank: int, args: list[str], out: str) -> None:
    """One torchrun-style worker (env set by the two_ranks launcher): the CLI, then this rank's weights."""
    import gan_sr.train.sr as t
    from gan_sr.cli import main

    fit = t.SRTrainer.fit

    def fit_and_dump(self):
        res = fit(self)
        torch.save({"g": self.g.state_dict(), "ema": self.ema.state_dict(), "step": self.step,
                    "world": self.dist.world_size}, f"{out}/rank{rank}.pt")
        return res

    t.SRTrainer.fit = fit_and_dump
    main(args, standalone_mode=False)


@pytest.mark.slow
def test_two_cpu_processes_stay_in_sync_and_match_one_process(tmp_path, two_ranks):
    data = make_split_dirs(tmp_path / "data", {"train": 8, "val": 1}, size=32, seed=1)
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(TINY)
    # one process with the global batch (2 ranks x 2) sees the same samples: same weights up to rounding.
    # It runs first, so that the forked ranks inherit everything it imported.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = build_config("espcn", scale=2, config_file=cfg_file, overrides={"train": {"steps": 3}, "data": {"batch": 4}})
        start = {k: v.clone() for k, v in SRTrainer(cfg, data=data, run_dir=tmp_path / "s", quiet=True).g.state_dict().items()}
        single = SRTrainer(cfg, data=data, run_dir=tmp_path / "one", quiet=True)
        single.fit()
    finally:
        torch.set_num_threads(before)
    args = ["sr", "train", "--model", "espcn", "--scale", "2", "--data", str(data), "--config", str(cfg_file),
            "--steps", "3", "--batch", "2", "--quiet", "--run-dir", str(tmp_path / "ddp")]
    codes = two_ranks(_rank, args, str(tmp_path))
    assert codes == [0, 0], f"ranks exited with {codes}"

    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0["world"] == r1["world"] == 2 and r0["step"] == r1["step"] == 3
    for key in ("g", "ema"):
        for name, w in r0[key].items():
            assert torch.equal(w, r1[key][name]), f"{key}.{name} differs between ranks"
    ck = load_checkpoint(tmp_path / "ddp" / "last.pt")  # written by rank 0 only
    assert ck["step"] == 3
    for name, w in r0["g"].items():
        assert torch.equal(w, ck["state_dict"][name])

    # the single-process result, computed above
    for name, w in single.g.state_dict().items():
        torch.testing.assert_close(w, r0["g"][name], rtol=1e-4, atol=1e-6)
    moved = [n for n, w in r0["g"].items() if not torch.equal(w, start[n])]
    assert moved, "training did not change the weights, so the comparison proves nothing"
