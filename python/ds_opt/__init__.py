"""ds_opt: DeepSpeed-style training on the ds-opt compiler and runtime.

    engine, optimizer, _, _ = ds_opt.initialize(model=model, config="ds_config.json",
                                                example_inputs=(x, y))
    for x, y in loader:
        loss = engine.train_batch(x, y)

Launch with `mpirun -np N python train.py` or `torchrun --nproc-per-node N train.py`: each
process is one rank, chosen from the launcher's environment by the runtime.
"""
from .engine import Engine, DsError, initialize, load_plan, rank, world_size

__all__ = ["Engine", "DsError", "initialize", "load_plan", "rank", "world_size"]
