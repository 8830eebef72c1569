// The collective kernels (all_gather, reduce_scatter, all_reduce, broadcast, barrier).
#include "CpuCommon.h"
#include "ds/runtime/Communicator.h"

#include <cstring>

namespace ds::rt::cpu {

void runCollective(KernelCall &c) {
  Communicator &comm = *c.ctx.comm;
  const std::string &k = c.ins.kernel();
  if (k == "barrier") {
    comm.barrier();
    return;
  }
  const Tensor &x = c.in[0], &r = c.out[0];
  if (k == "all_gather") {
    allGatherAxis(comm, x, r, c.attrs<AxisAttrs>().axis);
  } else if (k == "reduce_scatter") {
    const auto &attrs = c.attrs<ReduceScatterAttrs>();
    reduceScatterAxis(comm, x, r, attrs.axis, parseReduceOp(enumName(attrs.reduction)));
  } else if (k == "all_reduce") {
    comm.allReduce(x.data, r.data, x.numel, x.dtype,
                   parseReduceOp(enumName(c.attrs<AllReduceAttrs>().reduction)));
  } else { // broadcast
    if (x.data != r.data)
      std::memcpy(r.data, x.data, size_t(x.numel) * dtypeSize(x.dtype));
    comm.broadcast(r.data, r.numel, r.dtype, int(c.attrs<BroadcastAttrs>().root));
  }
}

} // namespace ds::rt::cpu
