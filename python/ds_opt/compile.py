"""From a torch.nn.Module or an ONNX file to plan bytes, in process (the compiler library)."""
import atexit
import inspect
import io
import json
import os
import shutil
import tempfile

from . import _core

DsError = _core.DsError


class CompiledPlan:
    """The plan's bytes and the ONNX file its parameters are read from."""

    def __init__(self, data, model_path, tmpdir=None):
        self.bytes = data
        self.model_path = model_path
        self._tmpdir = tmpdir

    def save(self, path):
        """Writes the plan as a .dsplan file (ds-run can run it; its model_file must stay)."""
        with open(path, "wb") as f:
            f.write(self.bytes)


def _config_text(config):
    if config is None:
        raise DsError("initialize: give config= (a DeepSpeed config: a file path or a dict)")
    if isinstance(config, dict):
        return json.dumps(config), "<config dict>"
    path = os.fspath(config)
    try:
        with open(path) as f:
            return f.read(), path
    except OSError as e:
        raise DsError("%s: cannot read the config: %s" % (path, e.strerror)) from None


class _WithLoss:
    """model(inputs[0]) followed by loss(output, *inputs[1:]) as one module to export."""

    def __new__(cls, model, loss):
        import torch

        class WithLoss(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x, *targets):
                return loss(self.model(x), *targets)

        return WithLoss()


def export_onnx(model, example_inputs, loss=None, input_names=None):
    """torch.onnx.export in training mode (opset 17, no constant folding, dynamic batch axis
    on every input) into bytes; returns (bytes, input names). Parameter names are kept
    (with `loss`, prefixed by "model.")."""
    import torch

    if example_inputs is None:
        raise DsError("initialize(model=...): give example_inputs= (one micro-batch: a tuple "
                      "of tensors, the model's forward arguments)")
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    example_inputs = tuple(torch.as_tensor(x) for x in example_inputs)
    module = _WithLoss(model, loss) if loss is not None else model
    if input_names is None:
        params = list(inspect.signature(module.forward).parameters)
        if len(params) >= len(example_inputs) and all(
                p not in ("args", "kwargs") for p in params[:len(example_inputs)]):
            input_names = params[:len(example_inputs)]
        else:
            input_names = ["input%d" % i for i in range(len(example_inputs))]
    buf = io.BytesIO()
    was_training = module.training
    module.train()
    try:
        torch.onnx.export(module, example_inputs, buf, export_params=True, opset_version=17,
                          training=torch.onnx.TrainingMode.TRAINING,
                          do_constant_folding=False, input_names=list(input_names),
                          dynamic_axes={n: {0: "batch"} for n in input_names})
    finally:
        module.train(was_training)
    return buf.getvalue(), list(input_names)


def compile_plan(model=None, config=None, example_inputs=None, loss=None, onnx=None,
                 world_size=1, zero_stage=None, freeze="", loss_name="", fuse_attention=True,
                 input_names=None):
    if not _core.has_compiler:
        raise DsError("this ds_opt was built without the compiler (DS_BUILD_COMPILER=OFF): "
                      "use ds_opt.load_plan")
    if (model is None) == (onnx is None):
        raise DsError("initialize: give exactly one of model= (a torch.nn.Module) and onnx= "
                      "(an ONNX file)")
    text, name = _config_text(config)
    tmpdir = None
    if onnx is not None:
        path = os.path.abspath(os.fspath(onnx))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DsError("%s: cannot read the model: %s" % (path, e.strerror)) from None
    else:
        data, _ = export_onnx(model, example_inputs, loss, input_names)
        # The runtime reads the parameters from the model file: this process's own copy.
        tmpdir = tempfile.mkdtemp(prefix="ds_opt_model_")
        atexit.register(shutil.rmtree, tmpdir, True)
        path = os.path.join(tmpdir, type(model).__name__ + ".onnx")
        with open(path, "wb") as f:
            f.write(data)
    plan = _core.compile_onnx(data, path, text, name, world_size,
                              -1 if zero_stage is None else int(zero_stage), loss_name,
                              freeze, fuse_attention)
    return CompiledPlan(plan, path, tmpdir)
