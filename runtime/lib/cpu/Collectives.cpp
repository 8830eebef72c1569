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
    allGatherAxis(comm, x, r, attrInt(c.ins, "axis"));
  } else if (k == "reduce_scatter") {
    reduceScatterAxis(comm, x, r, attrInt(c.ins, "axis"),
                      parseReduceOp(attrString(c.ins, "reduction", "sum")));
  } else if (k == "all_reduce") {
    comm.allReduce(x.data, r.data, x.numel, x.dtype,
                   parseReduceOp(attrString(c.ins, "reduction", "sum")));
  } else { // broadcast
    if (x.data != r.data)
      std::memcpy(r.data, x.data, size_t(x.numel) * dtypeSize(x.dtype));
    comm.broadcast(r.data, r.numel, r.dtype, int(attrInt(c.ins, "root", 0)));
  }
}

} // namespace ds::rt::cpu
