"""Two gloo processes under torchrun train a few steps on different data and stay in sync."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    from occtrack_ros.training.distributed import init_distributed, wrap_ddp, unwrap, shard, all_reduce_mean, cleanup

    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    assert ctx.distributed and ctx.world_size == 2, ctx
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = wrap_ddp(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)), ctx)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(123)
    data = torch.randn(64, 4, generator=gen)
    target = data.sum(dim=1, keepdim=True)
    mine = shard(list(range(64)), ctx)
    first = None
    for step in range(5):
        idx = torch.tensor(mine[step * 4:(step + 1) * 4], dtype=torch.long)
        loss = torch.nn.functional.mse_loss(model(data[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    mean_loss = all_reduce_mean(loss.item(), ctx)
    flat = torch.cat([p.detach().flatten() for p in unwrap(model).parameters()])
    json.dump({"rank": ctx.rank, "params": flat.tolist(), "shard_head": mine[:8], "mean_loss": mean_loss},
              open(sys.argv[1] + f"/rank{ctx.rank}.json", "w"))
    cleanup(ctx)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_stay_in_sync(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(script), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["shard_head"] != r1["shard_head"], "ranks must see different data for the check to mean anything"
    assert r0["params"] == r1["params"], "parameters diverged between ranks"
    assert r0["mean_loss"] == r1["mean_loss"]
    torch_init = __import__("torch")
    torch_init.manual_seed(0)
    init = torch_init.nn.Sequential(torch_init.nn.Linear(4, 8), torch_init.nn.ReLU(), torch_init.nn.Linear(8, 1))
    flat0 = torch_init.cat([p.detach().flatten() for p in init.parameters()]).tolist()
    assert flat0 != r0["params"], "training did not change the parameters"
