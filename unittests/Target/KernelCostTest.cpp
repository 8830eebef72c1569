// Tests of the cost report's per-kernel formulas (lib/Target/KernelCost.cpp), one per
// formula.
#include "ds/Target/KernelCost.h"

#include "ds/runtime/KernelCatalogue.h"

#include <gtest/gtest.h>

using namespace mlir::ds::cost;

namespace {
Operand f32(std::vector<int64_t> shape) { return {std::move(shape), 4}; }
Operand bf16(std::vector<int64_t> shape) { return {std::move(shape), 2}; }
Operand i64(std::vector<int64_t> shape) { return {std::move(shape), 8}; }

// Tests that every kernel of the runtime's catalogue has a formula of its own.
TEST(KernelCost, EveryCatalogueKernelHasAFormula) {
  for (const ds::rt::KernelInfo &k : ds::rt::kernelCatalogue())
    EXPECT_TRUE(hasFormula(k.name)) << k.name;
}

// Tests that a broadcasting elementwise kernel costs one FLOP per output element and
// reads each input once (the broadcast operand at its own size).
TEST(KernelCost, Elementwise) {
  KernelCost c = costOf("add", {f32({4, 8}), f32({8})}, {f32({4, 8})});
  EXPECT_EQ(c.flops, 32);
  EXPECT_EQ(c.bytesRead, 32 * 4 + 8 * 4);
  EXPECT_EQ(c.bytesWritten, 32 * 4);
  EXPECT_EQ(c.unit, Unit::Vector);
  EXPECT_EQ(costOf("gelu", {f32({10})}, {f32({10})}).flops, 80);
}

// Tests that a cast moves bytes of both dtypes and does no arithmetic.
TEST(KernelCost, Cast) {
  KernelCost c = costOf("cast", {f32({16})}, {bf16({16})});
  EXPECT_EQ(c.flops, 0);
  EXPECT_EQ(c.bytesRead, 64);
  EXPECT_EQ(c.bytesWritten, 32);
  EXPECT_EQ(c.unit, Unit::None);
}

// Tests that a batched matmul [B, M, K] x [K, N] costs 2 B M N K.
TEST(KernelCost, Matmul) {
  KernelCost c = costOf("matmul", {bf16({3, 5, 7}), bf16({7, 11})}, {bf16({3, 5, 11})});
  EXPECT_EQ(c.flops, 2.0 * 3 * 5 * 11 * 7);
  EXPECT_EQ(c.unit, Unit::TensorCore);
  EXPECT_EQ(c.bytesRead, (3 * 5 * 7 + 7 * 11) * 2);
  EXPECT_EQ(c.bytesWritten, 3 * 5 * 11 * 2);
}

// Tests that gemm's K comes from a whichever way it is transposed, and c is read.
TEST(KernelCost, Gemm) {
  // a^T: a is [K, M] = [7, 5], b [7, 11], c [11] -> r [5, 11].
  KernelCost c = costOf("gemm", {f32({7, 5}), f32({7, 11}), f32({11})}, {f32({5, 11})});
  EXPECT_EQ(c.flops, 2.0 * 5 * 11 * 7);
  EXPECT_EQ(c.bytesRead, (35 + 77 + 11) * 4);
}

// Tests that fused attention costs q kT and p v, 2 S T (D + Dv) per head, without the
// S x T scores in memory.
TEST(KernelCost, Attention) {
  KernelCost c =
      costOf("attention", {bf16({2, 3, 16, 8}), bf16({2, 3, 32, 8}), bf16({2, 3, 32, 4})},
             {bf16({2, 3, 16, 4}), f32({2, 3, 16})});
  EXPECT_EQ(c.flops, 2.0 * 6 * 16 * 32 * (8 + 4));
  EXPECT_EQ(c.bytesWritten, 6 * 16 * 4 * 2 + 6 * 16 * 4);
}

// Tests that attention's backward costs 2 S T (3 D + 2 Dv) per head.
TEST(KernelCost, AttentionGrad) {
  Operand q = bf16({2, 3, 16, 8}), k = bf16({2, 3, 32, 8}), v = bf16({2, 3, 32, 4});
  Operand g = bf16({2, 3, 16, 4});
  KernelCost c = costOf("attention_grad", {g, q, k, v, g, f32({2, 3, 16})}, {q, k, v});
  EXPECT_EQ(c.flops, 2.0 * 6 * 16 * 32 * (3 * 8 + 2 * 4));
}

// Tests that attention in layout bshd ([B, S, H, D] operands, lse [B, H, S]) costs the
// same as in bhsd: the sequence and head dims are read from their places.
TEST(KernelCost, AttentionBshd) {
  Operand q = bf16({2, 16, 3, 8}), k = bf16({2, 32, 3, 8}), v = bf16({2, 32, 3, 4});
  Operand o = bf16({2, 16, 3, 4}), lse = f32({2, 3, 16});
  EXPECT_EQ(costOf("attention", {q, k, v}, {o, lse}).flops, 2.0 * 6 * 16 * 32 * (8 + 4));
  EXPECT_EQ(costOf("attention_grad", {o, q, k, v, o, lse}, {q, k, v}).flops,
            2.0 * 6 * 16 * 32 * (3 * 8 + 2 * 4));
}

// Tests that the packed kernels (qkv [B, S, 3, H, D]) cost the FLOPs of attention over
// the parts and move the parts' bytes: what split and concat copied is all they save.
TEST(KernelCost, PackedAttentionCostsTheParts) {
  Operand part = bf16({2, 16, 3, 8}), qkv = bf16({2, 16, 3, 3, 8}), lse = f32({2, 3, 16});
  KernelCost unpacked = costOf("attention", {part, part, part}, {part, lse});
  KernelCost packed = costOf("packed_attention", {qkv}, {part, lse});
  EXPECT_EQ(packed.flops, 2.0 * 6 * 16 * 16 * (8 + 8));
  EXPECT_EQ(packed.flops, unpacked.flops);
  EXPECT_EQ(packed.bytesRead, unpacked.bytesRead);
  EXPECT_EQ(packed.bytesWritten, unpacked.bytesWritten);
  KernelCost grad =
      costOf("attention_grad", {part, part, part, part, part, lse}, {part, part, part});
  KernelCost packedGrad = costOf("packed_attention_grad", {part, qkv, part, lse}, {qkv});
  EXPECT_EQ(packedGrad.flops, 2.0 * 6 * 16 * 16 * (3 * 8 + 2 * 8));
  EXPECT_EQ(packedGrad.flops, grad.flops);
  EXPECT_EQ(packedGrad.bytesRead, grad.bytesRead);
  EXPECT_EQ(packedGrad.bytesWritten, grad.bytesWritten);
  // The same launches as the unpacked kernels (dq by query rows, dk/dv by key rows).
  EXPECT_EQ(packed.launches, unpacked.launches);
  EXPECT_EQ(packedGrad.launches, 2);
  EXPECT_EQ(packedGrad.launches, grad.launches);
}

// Tests the convolution formulas: forward, input gradient and filter gradient cost the
// same multiply-adds, numel(y) x numel(w) / M.
TEST(KernelCost, Convolution) {
  Operand x = f32({2, 4, 10, 10}), w = f32({6, 2, 3, 3}), y = f32({2, 6, 8, 8});
  double expected = 2.0 * (2 * 6 * 8 * 8) * (2 * 3 * 3);
  EXPECT_EQ(costOf("conv", {x, w}, {y}).flops, expected);
  EXPECT_EQ(costOf("conv_grad_input", {y, w}, {x}).flops, expected);
  EXPECT_EQ(costOf("conv_grad_filter", {y, x}, {w}).flops, expected);
}

// Tests that gather reads only the rows it gathers, and gather_grad writes the whole
// table then adds each row.
TEST(KernelCost, Gather) {
  Operand table = f32({1000, 16}), idx = i64({2, 5}), rows = f32({2, 5, 16});
  KernelCost g = costOf("gather", {table, idx}, {rows});
  EXPECT_EQ(g.bytesRead, 10 * 16 * 4 + 10 * 8);
  EXPECT_EQ(g.bytesWritten, 10 * 16 * 4);
  KernelCost gg = costOf("gather_grad", {rows, idx}, {table});
  EXPECT_EQ(gg.bytesWritten, 1000 * 16 * 4 + 10 * 16 * 4);
  EXPECT_EQ(gg.bytesRead, 10 * 16 * 4 + 10 * 8);
}

// Tests that slice reads only what it keeps.
TEST(KernelCost, Slice) {
  KernelCost c = costOf("slice", {f32({100})}, {f32({10})});
  EXPECT_EQ(c.bytesRead, 40);
  EXPECT_EQ(c.bytesWritten, 40);
}

// Tests that a copy of a piece (count elements) moves the smaller of its buffers.
TEST(KernelCost, Copy) {
  KernelCost c = costOf("copy", {f32({100})}, {f32({25})});
  EXPECT_EQ(c.bytesRead, 100);
  EXPECT_EQ(c.bytesWritten, 100);
}

// Tests that constant and fill only write.
TEST(KernelCost, WriteOnly) {
  KernelCost c = costOf("fill", {}, {bf16({8})});
  EXPECT_EQ(c.bytesRead, 0);
  EXPECT_EQ(c.bytesWritten, 16);
  EXPECT_EQ(costOf("constant", {}, {f32({3})}).bytesWritten, 12);
}

// Tests the per-element FLOPs of reductions and normalisations (counted on the input).
TEST(KernelCost, Normalisation) {
  EXPECT_EQ(costOf("layer_norm", {f32({4, 8}), f32({8}), f32({8})}, {f32({4, 8})}).flops,
            8 * 32);
  EXPECT_EQ(costOf("reduce_sum", {f32({4, 8})}, {f32({4})}).flops, 32);
  EXPECT_EQ(costOf("softmax", {f32({4, 8})}, {f32({4, 8})}).flops, 5 * 32);
}

// Tests that a loss gradient counts the scores it writes, not its scalar g.
TEST(KernelCost, LossGrad) {
  KernelCost c = costOf("softmax_cross_entropy_loss_grad",
                        {f32({}), f32({6, 10}), i64({6})}, {f32({6, 10})});
  EXPECT_EQ(c.flops, 4 * 60);
}

// Tests that the loss with its gradient reads the scores once and writes the loss and the
// gradient once: one pass fewer over the scores than the two kernels, the same FLOPs.
TEST(KernelCost, LossWithGrad) {
  Operand g = bf16({}), s = bf16({6, 10}), y = i64({6}), l = bf16({}), ds = bf16({6, 10});
  KernelCost fused = costOf("softmax_cross_entropy_loss_with_grad", {g, s, y}, {l, ds});
  KernelCost loss = costOf("softmax_cross_entropy_loss", {s, y}, {l});
  KernelCost grad = costOf("softmax_cross_entropy_loss_grad", {g, s, y}, {ds});
  EXPECT_EQ(fused.flops, loss.flops + grad.flops);
  EXPECT_EQ(fused.bytesRead, 2 + 120 + 48);
  EXPECT_EQ(fused.bytesWritten, 2 + 120);
  EXPECT_EQ(loss.bytesRead + grad.bytesRead - fused.bytesRead, s.bytes() + y.bytes());
  EXPECT_EQ(fused.bytesWritten, loss.bytesWritten + grad.bytesWritten);
}

// Tests that an optimizer update counts FLOPs per parameter element and every state once.
TEST(KernelCost, Optimizer) {
  Operand p = f32({100}), lr = f32({}), step = i64({});
  KernelCost c = costOf("adam_update", {p, p, p, p, lr, step}, {p, p, p});
  EXPECT_EQ(c.flops, 12 * 100);
  EXPECT_EQ(c.bytesRead, 4 * 400 + 4 + 8);
  EXPECT_EQ(c.bytesWritten, 3 * 400);
  EXPECT_EQ(costOf("sgd_update", {p, p, p, lr, step}, {p, p}).flops, 4 * 100);
}

// Tests that a collective costs its operands' bytes and no FLOPs.
TEST(KernelCost, Collective) {
  KernelCost c = costOf("all_reduce", {f32({64})}, {f32({64})});
  EXPECT_EQ(c.flops, 0);
  EXPECT_EQ(c.bytes(), 512);
}

// Tests that an unknown kernel costs its operands' bytes.
TEST(KernelCost, Unknown) {
  EXPECT_FALSE(hasFormula("no_such_kernel"));
  EXPECT_EQ(costOf("no_such_kernel", {f32({2})}, {f32({3})}).bytes(), 20);
}

// Tests the roofline: the slower of FLOP time on the kernel's unit and byte time.
TEST(KernelCost, Roofline) {
  const Device *h100 = findDevice("h100");
  const Device *h200 = findDevice("h200");
  ASSERT_TRUE(h100 && h200);
  EXPECT_EQ(findDevice("a100"), nullptr);
  EXPECT_EQ(h100->tensorFlops16, 989e12);
  EXPECT_EQ(h100->bytesPerSecond, 3.35e12);
  EXPECT_EQ(h200->bytesPerSecond, 4.8e12);
  KernelCost matmul{989e12, 1e9, 0, Unit::TensorCore};
  EXPECT_DOUBLE_EQ(rooflineSeconds(matmul, true, *h100), 1.0);
  EXPECT_DOUBLE_EQ(rooflineSeconds(matmul, false, *h100), 2.0);
  KernelCost stream{1e6, 3.35e12, 0, Unit::Vector};
  EXPECT_DOUBLE_EQ(rooflineSeconds(stream, true, *h100), 1.0);
  EXPECT_DOUBLE_EQ(rooflineSeconds(stream, true, *h200), 3.35 / 4.8);
}
} // namespace

// Tests that the multi-tensor optimizer kernels cost a few FLOPs per element of all their
// inputs and stream every operand once: two bf16 parameters' master, grad and moments in,
// master, moments, working copy and zeroed grad out.
TEST(KernelCost, MultiTensorOptimizer) {
  KernelCost c = costOf("multi_adam_update",
                        {f32({}), i64({}), f32({4}), bf16({4}), f32({4}), f32({4}), f32({2}),
                         bf16({2}), f32({2}), f32({2})},
                        {f32({4}), f32({4}), f32({4}), bf16({4}), bf16({4}), f32({2}),
                         f32({2}), f32({2}), bf16({2}), bf16({2})});
  EXPECT_EQ(c.flops, 3 * (2 + 24));
  EXPECT_EQ(c.bytesRead, 4 + 8 + 6 * 14);
  EXPECT_EQ(c.bytesWritten, 6 * 16);
  EXPECT_EQ(c.unit, Unit::Vector);
  KernelCost n = costOf("grad_norm_sq", {bf16({8}), f32({2})}, {f32({})});
  EXPECT_EQ(n.flops, 20);
  EXPECT_EQ(n.bytesRead, 16 + 8);
  EXPECT_EQ(n.bytesWritten, 4);
}

// Tests the CUDA backend's device operations per call, as runtime/lib/cuda issues them.
TEST(KernelCost, CudaLaunches) {
  EXPECT_EQ(costOf("gemm", {bf16({8, 4}), bf16({4, 2})}, {bf16({8, 2})}).launches, 1);
  // A bias row (the BIAS epilogue) or an accumulated c: one call; a column c is broadcast first.
  EXPECT_EQ(cudaLaunches("gemm", {bf16({8, 4}), bf16({4, 2}), bf16({2})}, {bf16({8, 2})}), 1);
  EXPECT_EQ(cudaLaunches("gemm", {bf16({8, 4}), bf16({4, 2}), bf16({1, 2})}, {bf16({8, 2})}), 1);
  EXPECT_EQ(cudaLaunches("gemm", {bf16({8, 4}), bf16({4, 2}), bf16({8, 2})}, {bf16({8, 2})}), 1);
  EXPECT_EQ(cudaLaunches("gemm", {bf16({8, 4}), bf16({4, 2}), bf16({8, 1})}, {bf16({8, 2})}), 2);
  EXPECT_EQ(costOf("add", {f32({4})}, {f32({4})}).launches, 1);
  // A copy per non-empty piece up to two; more: a descriptor upload and one launch.
  EXPECT_EQ(cudaLaunches("split", {f32({2, 9})}, {f32({2, 3}), f32({2, 0}), f32({2, 6})}), 2);
  EXPECT_EQ(cudaLaunches("split", {f32({2, 9})}, {f32({2, 9})}), 1);
  EXPECT_EQ(cudaLaunches("concat", {f32({2, 3}), f32({2, 3}), f32({2, 3})}, {f32({2, 9})}),
            2);
  std::vector<Operand> many(40, f32({2, 3}));
  EXPECT_EQ(cudaLaunches("concat", many, {f32({2, 120})}), 2);
  // Bias gradients (the innermost dim kept): thread variant, split over the tokens and a
  // final launch; a row sum over 64 elements: one block per output, no split.
  EXPECT_EQ(cudaLaunches("reduce_sum", {bf16({8, 1024, 768})}, {bf16({768})}), 2);
  EXPECT_EQ(cudaLaunches("reduce_sum", {f32({4096, 64})}, {f32({4096})}), 1);
  EXPECT_EQ(cudaLaunches("reduce_sum", {f32({4, 1, 3})}, {f32({4, 3})}), 1); // a copy
  EXPECT_EQ(cudaLaunches("reduce_sum", {f32({0, 3})}, {f32({3})}), 0);
  // One launch over all inputs of a multi-tensor kernel, plus its descriptor upload.
  std::vector<Operand> grads(148, bf16({768}));
  EXPECT_EQ(cudaLaunches("all_finite", grads, {f32({})}), 3);
  EXPECT_EQ(cudaLaunches("all_finite", {}, {f32({})}), 1);
  EXPECT_EQ(cudaLaunches("grad_norm_sq", grads, {f32({})}), 3);
  EXPECT_EQ(cudaLaunches("layer_norm_grad", {}, {}), 2);
  // Losses: the reduction to a scalar and the log-probabilities are launches of their own.
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss", {f32({8, 5}), i64({8})}, {f32({})}), 2);
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss", {f32({8, 5}), i64({8})}, {f32({8})}), 1);
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss", {f32({8, 5}), i64({8})},
                         {f32({}), f32({8, 5})}),
            3);
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss_grad",
                         {f32({}), f32({8, 5}), i64({8})}, {f32({8, 5})}),
            2);
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss_grad",
                         {f32({8}), f32({8, 5}), i64({8})}, {f32({8, 5})}),
            1);
  // The loss with its gradient: the weight sum (mean), one launch for both, the reduction;
  // one launch fewer than the two kernels.
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss_with_grad",
                         {f32({}), f32({8, 5}), i64({8})}, {f32({}), f32({8, 5})}),
            3);
  EXPECT_EQ(cudaLaunches("softmax_cross_entropy_loss_with_grad",
                         {f32({8}), f32({8, 5}), i64({8})}, {f32({8}), f32({8, 5})}),
            1);
}
