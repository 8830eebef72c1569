"""Trains a compiled plan under mpirun with batches from a DataLoader + DistributedSampler, as
a DeepSpeed user would; writes the step losses as ds-run's --metrics does and a checkpoint.
    train_gpt.py PLAN STEPS MODE(train_batch|trio) LOSSES.json CKPT_DIR"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import ds_opt
from gpt_samples import loader

plan, steps, mode, losses_path, ckpt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
engine = ds_opt.load_plan(plan, backend="cpu")
batches = iter(loader(engine.rank, engine.world_size, engine.train_micro_batch_size_per_gpu))
losses = []
while engine.global_steps < steps:
    x, y = next(batches)
    if mode == "train_batch":
        loss = engine.train_batch(x, y)
        if engine.gradient_accumulation_steps == 1:
            assert loss == engine.step_loss, (loss, engine.step_loss)
    else:
        loss = engine(x, y)
        engine.backward(loss)
        engine.step()
    if engine.micro_steps % engine.gradient_accumulation_steps == 0:
        losses.append(engine.step_loss)
engine.save_checkpoint(ckpt)
if engine.rank == 0:
    with open(losses_path, "w") as f:
        json.dump({"loss": ["%.9g" % l for l in losses], "lr": engine.get_lr(),
                   "backend": engine.backend}, f)
    print("ds_opt: %d steps on %d ranks (%s), loss %s -> %s" %
          (engine.global_steps, engine.world_size, mode, losses[0] if losses else None,
           losses[-1] if losses else None))
# The consolidated weights: rank 0 holds every parameter in its full shape, the others none.
params = engine.state_dict()
if engine.rank == 0:
    print("state_dict: %d parameters, %d values" % (len(params),
                                                     sum(a.size for a in params.values())))
else:
    assert params == {}, sorted(params)
