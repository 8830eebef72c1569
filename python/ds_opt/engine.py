"""The engine: one rank's compiled training step, driven the way DeepSpeed's engine is."""
import atexit
import os
import shutil
import tempfile

import numpy as np

# The CUDA plugin of a build tree (build/lib/libds_cuda.so next to build/python): the runtime
# looks next to the executable, which is python here.
_plugin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib",
                       "libds_cuda.so")
if os.path.exists(_plugin):
    os.environ.setdefault("DS_CUDA_PLUGIN", os.path.normpath(_plugin))

from . import _core as _runtime  # noqa: E402

DsError = _runtime.DsError
atexit.register(_runtime.shutdown)


def rank():
    """This process's rank (from mpirun's or torchrun's environment; 0 alone)."""
    return _runtime.rank()


def world_size():
    return _runtime.world_size()


def _as_array(x, name, dtype):
    """A C-contiguous numpy view of a numpy array or CPU torch tensor (no copy when the
    dtype and layout already match)."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # torch.Tensor
        if x.device.type != "cpu":
            raise DsError("input '%s': a tensor on %s; pass CPU tensors" % (name, x.device))
        x = x.detach().numpy()
    a = np.asarray(x)
    if a.dtype.kind != np.dtype(dtype).kind and not (a.dtype.kind in "iu" and
                                                      np.dtype(dtype).kind in "iu"):
        raise DsError("input '%s': dtype %s does not match the plan's %s" % (name, a.dtype, dtype))
    return np.ascontiguousarray(a, dtype=dtype)


class Engine:
    """One rank's plan loaded into the runtime.

    train_batch(*inputs) runs one micro-step (forward and backward) and, after
    gradient_accumulation_steps of them, the optimizer step; engine(*inputs), backward(loss)
    and step() are the same programs split as DeepSpeed splits them.
    """

    def __init__(self, runtime):
        self._rt = runtime
        self._inputs = runtime.inputs()  # [(name, dtype, shape)]
        self.global_steps = 0
        self.global_samples = 0
        self.micro_steps = 0
        self._accum_losses = []  # this rank's micro-step losses since the last step
        self._pending = None  # loss of engine(...) waiting for backward()
        self._backward_done = False
        self.step_loss = None  # the last optimizer step's loss as ds-run reports it

    # -- properties DeepSpeed users read
    @property
    def rank(self):
        return self._rt.rank

    @property
    def world_size(self):
        return self._rt.world_size

    @property
    def train_micro_batch_size_per_gpu(self):
        return self._rt.micro_batch

    @property
    def gradient_accumulation_steps(self):
        return self._rt.accumulation

    @property
    def zero_optimization_stage(self):
        return self._rt.zero_stage

    @property
    def loss_scale(self):
        s = self._rt.loss_scale()
        return 1.0 if s is None else s

    @property
    def backend(self):
        return self._rt.backend

    def get_lr(self):
        lr = self._rt.learning_rate()
        return [] if lr is None else [lr]

    def is_gradient_accumulation_boundary(self):
        return (self.micro_steps + 1) % self._rt.accumulation == 0

    # -- inputs
    def _feed(self, inputs):
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        if len(inputs) != len(self._inputs):
            names = ", ".join(n for n, _, _ in self._inputs)
            raise DsError("the plan has %d graph inputs (%s), got %d" %
                          (len(self._inputs), names, len(inputs)))
        arrays = [_as_array(x, n, d) for x, (n, d, _) in zip(inputs, self._inputs)]
        self._rt.feed(arrays)

    # -- training
    def _micro(self, inputs):
        if not self._rt.training:
            raise DsError("the plan has no training step (an inference plan): use eval_batch")
        self._feed(inputs)
        loss = self._rt.micro_step()
        self._accum_losses.append(loss)
        return loss

    def _boundary(self):
        self.micro_steps += 1
        self.global_samples += self._rt.micro_batch * self._rt.world_size
        if self.micro_steps % self._rt.accumulation:
            return False
        self._rt.apply_step()
        local = sum(self._accum_losses) / self._rt.accumulation
        self.step_loss = self._rt.mean_over_ranks(local)
        self._accum_losses = []
        self.global_steps += 1
        return True

    def train_batch(self, *inputs):
        """One micro-batch (this rank's): forward, backward and, at the accumulation
        boundary, the optimizer step. Returns the micro-batch's loss averaged over the ranks."""
        if self._pending is not None:
            raise DsError("train_batch: engine(...) is waiting for backward() and step()")
        loss = self._micro(inputs)
        self._boundary()
        return self._rt.mean_over_ranks(loss)

    def __call__(self, *inputs):
        """Forward (and, compiled into the same program, backward) of one micro-batch;
        returns this rank's loss."""
        if self._pending is not None:
            raise DsError("engine(...) called twice without backward() and step()")
        self._pending = self._micro(inputs)
        self._backward_done = False
        return self._pending

    forward = __call__

    def backward(self, loss=None):
        """The gradients of the last engine(...) call (already computed by its program)."""
        if self._pending is None:
            raise DsError("backward() without a preceding engine(...) call")
        if self._backward_done:
            raise DsError("backward() called twice for one engine(...) call")
        self._backward_done = True
        return loss

    def step(self):
        """The optimizer step at the accumulation boundary (otherwise only counts the
        micro-step)."""
        if self._pending is None or not self._backward_done:
            raise DsError("step() needs engine(...) and backward() first")
        self._pending = None
        self._backward_done = False
        self._boundary()

    def eval_batch(self, *inputs):
        """The INFERENCE program on one micro-batch: {output name: numpy array}."""
        if not self._rt.has_inference:
            raise DsError("eval_batch: the plan has no INFERENCE program")
        self._feed(inputs)
        out = {}
        for name, (dtype, shape, data) in self._rt.inference().items():
            out[name] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        return out

    # -- state
    def save_checkpoint(self, save_dir, tag=None, client_state=None, save_latest=True, keep=0):
        """DIR/global_step<N> in ds-run's checkpoint format (collective: every rank calls);
        `latest` names it. keep=K keeps the newest K tags (0: all)."""
        if client_state:
            raise DsError("save_checkpoint: client_state is not stored (ds-run's checkpoint "
                          "format holds the module state and the data position only)")
        if not save_latest:
            raise DsError("save_checkpoint: save_latest=False is not supported (the save "
                          "always updates DIR/latest)")
        if self.micro_steps % self._rt.accumulation:
            raise DsError("save_checkpoint: in the middle of gradient accumulation (%d of %d "
                          "micro-steps); save after step()" %
                          (self.micro_steps % self._rt.accumulation, self._rt.accumulation))
        if tag is not None and tag != "global_step%d" % self.global_steps:
            raise DsError("save_checkpoint: tag '%s': checkpoints are tagged global_step<N> "
                          "(global_step%d now)" % (tag, self.global_steps))
        self._rt.save_checkpoint(str(save_dir), self.global_steps, self.global_samples, keep)
        return True

    def load_checkpoint(self, load_dir, tag=None):
        """Loads DIR (its `latest` tag) or DIR/tag; returns (path, client_state)."""
        path = str(load_dir) if tag is None else os.path.join(str(load_dir), tag)
        step, sample = self._rt.load_checkpoint(path)
        self.global_steps = step
        self.global_samples = sample
        self.micro_steps = step * self._rt.accumulation
        self._accum_losses = []
        self._pending = None
        return path, {}

    def state_dict(self):
        """Every parameter gathered in its full ONNX shape as fp32 (or its dtype) numpy
        arrays: {initializer name: array} on rank 0, {} on the other ranks (DeepSpeed's
        consolidated state dict). Collective: every rank calls it."""
        tmp = tempfile.mkdtemp(prefix="ds_opt_params_")
        try:
            files = self._rt.save_parameters(os.path.join(tmp, "params"))
            if self._rt.rank != 0:
                return {}
            return {name: np.load(f) for name, f in files}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def memory_report(self):
        return self._rt.memory_report()


def load_plan(path, backend="auto", threads=0, model=None):
    """An engine for a plan ds-opt wrote (every rank loads the same file)."""
    rt = _runtime.Runtime(str(path), False, backend, threads, str(model or ""))
    return Engine(rt)


def initialize(model=None, config=None, example_inputs=None, loss=None, onnx=None,
               model_parameters=None, backend="auto", **compile_options):
    """DeepSpeed's initialize: returns (engine, optimizer, training_dataloader, lr_scheduler);
    the optimizer and the scheduler are inside the engine's compiled step, so the last three
    are the engine itself (get_lr) or None.

    model: a torch.nn.Module whose forward returns the loss (or give loss=fn: the loss is
    fn(model(inputs[0]), *inputs[1:])), exported with example_inputs (one micro-batch);
    or onnx: an ONNX file exported for training. config: a DeepSpeed config (path or dict).
    The model is compiled in process for this job's world size (mpirun / torchrun). Keyword
    options: zero_stage, freeze (regex), loss_name, fuse_attention, input_names.
    model_parameters is accepted for DeepSpeed's signature: every parameter the export keeps
    is trained unless `freeze` matches it."""
    from . import compile as _compile
    plan = _compile.compile_plan(model=model, config=config, example_inputs=example_inputs,
                                 loss=loss, onnx=onnx, world_size=world_size(),
                                 **compile_options)
    rt = _runtime.Runtime(plan.bytes, True, backend, 0, plan.model_path)
    engine = Engine(rt)
    engine._plan = plan  # keeps the exported model file alive for the parameter loader
    return engine, engine, None, engine
