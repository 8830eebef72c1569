// The table of CUDA-vs-CPU cases (CudaKernelTest.cpp runs each on both backends).
#include "CudaKernelCases.h"

#include <cmath>

namespace ds::rt::test::cuda_cases {
// ---------------------------------------------------------------- the cases


std::vector<Case> allCases() {
  std::vector<Case> cs;
  auto add = [&](std::string name, Ins ins, std::vector<Spec> in, std::vector<Spec> out,
                 double tol = -1) {
    cs.push_back(Case{std::move(name), std::move(ins), std::move(in), std::move(out), tol});
  };
  const std::vector<int64_t> S{2, 3, 4};

  // ---- binary elementwise with broadcasting
  for (const char *op : {"add", "sub", "mul", "div", "pow", "max", "min"})
    for (DType dt : {F32, BF16, F16})
      for (const std::vector<int64_t> &bs :
           {std::vector<int64_t>{4}, std::vector<int64_t>{3, 1}, std::vector<int64_t>{2, 1, 4}}) {
        std::string op_ = op;
        Spec a = op_ == "pow" ? R(dt, S, 0.5, 2) : R(dt, S);
        Spec b = op_ == "div" ? R(dt, bs, 0.5, 2) : R(dt, bs);
        add(op_ + "_" + dtName(dt) + "_" + shapeName(bs), K(op), {a, b}, {R(dt, S)});
      }
  add("sub_f32_3x1_minus_2x3x4", K("sub"), {R(F32, {3, 1}), R(F32, S)}, {R(F32, S)});
  add("div_f32_negative_divisor", K("div"), {R(F32, S), R(F32, {4}, -2, -0.5)}, {R(F32, S)});
  add("add_f32_inplace", K("add"), {R(F32, S), R(F32, {4})}, {Alias(R(F32, S), 0)});
  add("mul_bf16_inplace", K("mul"), {R(BF16, S), R(BF16, {3, 1})}, {Alias(R(BF16, S), 0)});
  add("add_f64_2x1x4", K("add"), {R(F64, S), R(F64, {2, 1, 4})}, {R(F64, S)});
  add("add_i64_4", K("add"), {Z(I64, S, -100, 100), Z(I64, {4}, -100, 100)}, {R(I64, S)});
  add("sub_i64_3x1", K("sub"), {Z(I64, S, -100, 100), Z(I64, {3, 1}, -100, 100)}, {R(I64, S)});
  add("mul_i64_2x1x4", K("mul"), {Z(I64, S, -100, 100), Z(I64, {2, 1, 4}, -100, 100)}, {R(I64, S)});
  add("div_i64_positive", K("div"), {Z(I64, S, 0, 100), Z(I64, {4}, 1, 9)}, {R(I64, S)});
  add("add_i32_4", K("add"), {Z(I32, S, -100, 100), Z(I32, {4}, -100, 100)}, {R(I32, S)});
  add("div_f32_special", K("div"),
      {V(F32, {6}, {1, -1, 0, kInf, kNaN, 3}), V(F32, {6}, {0, 0, 0, kInf, 1, -kInf})},
      {R(F32, {6})});

  // ---- comparisons -> i1
  for (const char *op : {"equal", "less", "greater"}) {
    add(std::string(op) + "_f32_4", K(op), {Z(F32, S), Z(F32, {4})}, {R(I1, S)});
    add(std::string(op) + "_bf16_3x1", K(op), {Z(BF16, S), Z(BF16, {3, 1})}, {R(I1, S)});
    add(std::string(op) + "_i64_2x1x4", K(op), {Z(I64, S), Z(I64, {2, 1, 4})}, {R(I1, S)});
  }

  // ---- where
  add("where_f32", K("where"), {R(I1, S), R(F32, S), R(F32, {4})}, {R(F32, S)});
  add("where_bf16_bcast_cond", K("where"), {R(I1, {3, 1}), R(BF16, {2, 1, 4}), R(BF16, {4})},
      {R(BF16, S)});
  add("where_i64", K("where"), {R(I1, S), Z(I64, S, -50, 50), Z(I64, {3, 1}, -50, 50)},
      {R(I64, S)});
  add("where_f32_inplace", K("where"), {R(I1, S), R(F32, S), R(F32, S)}, {Alias(R(F32, S), 1)});

  // ---- unary
  for (const char *op :
       {"neg", "sqrt", "exp", "log", "tanh", "sin", "cos", "abs", "reciprocal", "erf", "relu",
        "sigmoid", "identity", "gelu"})
    for (DType dt : {F32, BF16}) {
      std::string o = op;
      bool positive = o == "sqrt" || o == "log" || o == "reciprocal";
      Spec x = positive ? R(dt, {4, 33}, 0.05, 4) : R(dt, {4, 33}, -4, 4);
      add(o + "_" + dtName(dt), K(op), {x}, {R(dt, {4, 33})});
    }
  add("gelu_tanh_f32", K("gelu").s("approximate", "tanh"), {R(F32, {4, 33}, -4, 4)},
      {R(F32, {4, 33})});
  add("gelu_tanh_bf16", K("gelu").s("approximate", "tanh"), {R(BF16, {4, 33}, -4, 4)},
      {R(BF16, {4, 33})});
  add("exp_f16", K("exp"), {R(F16, {4, 33}, -4, 4)}, {R(F16, {4, 33})});
  add("tanh_f64", K("tanh"), {R(F64, {4, 33}, -4, 4)}, {R(F64, {4, 33})});
  add("exp_f32_inplace", K("exp"), {R(F32, {4, 33})}, {Alias(R(F32, {4, 33}), 0)});
  add("neg_i64", K("neg"), {Z(I64, S, -50, 50)}, {R(I64, S)});
  add("relu_i64", K("relu"), {Z(I64, S, -50, 50)}, {R(I64, S)});
  add("identity_i1", K("identity"), {R(I1, S)}, {R(I1, S)});
  add("log_f32_special", K("log"), {V(F32, {5}, {0, -1, kInf, kNaN, 1})}, {R(F32, {5})});
  // NaN and +-inf as torch: relu(NaN) = NaN, gelu(-inf) = NaN, sigmoid(+-inf) = 1, 0.
  for (const char *op : {"relu", "gelu", "sigmoid", "tanh"})
    add(std::string(op) + "_f32_special", K(op), {V(F32, {5}, {kNaN, kInf, -kInf, -0.0, 1})},
        {R(F32, {5})});

  // ---- cast
  const std::vector<double> special{0,    -0.0, 1.5,  -2.5,  1e5,  -1e5,
                                    3e38, 1e-8, kInf, -kInf, kNaN, 65504};
  for (DType to : {BF16, F16, F64}) {
    add("cast_f32_to_" + dtName(to), K("cast"), {R(F32, {5, 7}, -8, 8)}, {R(to, {5, 7})});
    add("cast_" + dtName(to) + "_to_f32", K("cast"), {R(to, {5, 7}, -8, 8)}, {R(F32, {5, 7})});
    add("cast_f32_to_" + dtName(to) + "_special", K("cast"), {V(F32, {12}, special)},
        {R(to, {12})});
  }
  add("cast_f32_to_i64", K("cast"), {R(F32, {5, 7}, -100, 100)}, {R(I64, {5, 7})});
  add("cast_i64_to_f32", K("cast"), {Z(I64, {5, 7}, -1000, 1000)}, {R(F32, {5, 7})});
  add("cast_f32_to_i1", K("cast"), {Z(F32, {5, 7}, -2, 2)}, {R(I1, {5, 7})});
  add("cast_i1_to_f32", K("cast"), {R(I1, {5, 7})}, {R(F32, {5, 7})});
  add("cast_bf16_to_f16", K("cast"), {R(BF16, {5, 7}, -8, 8)}, {R(F16, {5, 7})});
  add("cast_i64_to_i32", K("cast"), {Z(I64, {5, 7}, -1000, 1000)}, {R(I32, {5, 7})});

  // ---- matmul
  struct MM {
    const char *name;
    std::vector<int64_t> a, b, r;
  };
  const MM mms[] = {{"2d", {4, 5}, {5, 6}, {4, 6}},
                    {"batched3d_x_2d", {2, 4, 5}, {5, 6}, {2, 4, 6}},
                    {"attention4d", {2, 3, 5, 8}, {2, 3, 8, 5}, {2, 3, 5, 5}},
                    {"bcast_batch", {1, 3, 4, 5}, {2, 1, 5, 6}, {2, 3, 4, 6}}};
  for (DType dt : {F32, BF16, F16, F64})
    for (const MM &m : mms)
      add(std::string("matmul_") + m.name + "_" + dtName(dt), K("matmul"), {R(dt, m.a), R(dt, m.b)},
          {R(dt, m.r)});
  add("matmul_vec_x_mat_f32", K("matmul"), {R(F32, {5}), R(F32, {5, 6})}, {R(F32, {6})});
  add("matmul_mat_x_vec_f32", K("matmul"), {R(F32, {2, 4, 5}), R(F32, {5})}, {R(F32, {2, 4})});
  add("matmul_2d_x_batched3d_f32", K("matmul"), {R(F32, {4, 5}), R(F32, {3, 5, 6})},
      {R(F32, {3, 4, 6})});
  add("matmul_larger_f32", K("matmul"), {R(F32, {3, 37, 70}), R(F32, {70, 45})},
      {R(F32, {3, 37, 45})});

  // ---- gemm: a is MxK (or KxM with trans_a), b is KxN (or NxK with trans_b)
  add("gemm_plain_f32", K("gemm"), {R(F32, {4, 5}), R(F32, {5, 6})}, {R(F32, {4, 6})});
  add("gemm_ta_f32_alpha_beta_c_row", K("gemm").i("trans_a", 1).f("alpha", 0.7).f("beta", 0.3),
      {R(F32, {5, 4}), R(F32, {5, 6}), R(F32, {6})}, {R(F32, {4, 6})});
  add("gemm_tb_f32_c_col", K("gemm").i("trans_b", 1).f("alpha", -1.5).f("beta", 2),
      {R(F32, {4, 5}), R(F32, {6, 5}), R(F32, {4, 1})}, {R(F32, {4, 6})});
  add("gemm_ta_tb_f32_c_scalar", K("gemm").i("trans_a", 1).i("trans_b", 1).f("alpha", 0.5),
      {R(F32, {5, 4}), R(F32, {6, 5}), R(F32, {})}, {R(F32, {4, 6})});
  add("gemm_ta_tb_f32_c_full", K("gemm").i("trans_a", 1).i("trans_b", 1).f("beta", 0.25),
      {R(F32, {5, 4}), R(F32, {6, 5}), R(F32, {4, 6})}, {R(F32, {4, 6})});
  add("gemm_tb_bf16_c_row", K("gemm").i("trans_b", 1).f("alpha", 0.7).f("beta", 0.3),
      {R(BF16, {4, 5}), R(BF16, {6, 5}), R(BF16, {6})}, {R(BF16, {4, 6})});
  add("gemm_ta_f16_c_row", K("gemm").i("trans_a", 1).f("alpha", 0.7).f("beta", 0.3),
      {R(F16, {5, 4}), R(F16, {5, 6}), R(F16, {1, 6})}, {R(F16, {4, 6})});
  add("gemm_tb_f64_c_row", K("gemm").i("trans_b", 1).f("alpha", 0.7).f("beta", 0.3),
      {R(F64, {4, 5}), R(F64, {6, 5}), R(F64, {6})}, {R(F64, {4, 6})});
  // A bias (beta 1, c one row): cuBLASLt's BIAS epilogue (GPT-2's forward Linear layers), in
  // the broadcast path where it has no algorithm.
  for (DType dt : {F32, BF16, F16, F64}) {
    std::string d = dtName(dt);
    add("gemm_tb_bias_" + d, K("gemm").i("trans_b", 1),
        {R(dt, {64, 32}), R(dt, {48, 32}), R(dt, {48})}, {R(dt, {64, 48})});
    add("gemm_bias_1xn_alpha_" + d, K("gemm").f("alpha", 0.5),
        {R(dt, {7, 9}), R(dt, {9, 5}), R(dt, {1, 5})}, {R(dt, {7, 5})});
  }
  // gemm's bias gradient (ds-fuse-bias-grad): db over op(a) or op(b), in the layouts that
  // take cuBLASLt's BGRADA/BGRADB epilogue (16-bit, reduced operand [K, *], alpha 1) and in
  // those that take the reduce_sum fallback (f32, transposed, alpha != 1); accumulating in
  // place into c as the weight gradient does.
  for (DType dt : {BF16, F16, F32}) {
    std::string d = dtName(dt);
    add("gemm_db_a_ta_" + d, K("gemm").i("trans_a", 1).s("bias_grad", "a"),
        {R(dt, {64, 24}), R(dt, {64, 40}), R(dt, {24, 40})},
        {Alias(R(dt, {24, 40}), 2), R(dt, {24})});
    add("gemm_db_b_" + d, K("gemm").i("trans_a", 1).s("bias_grad", "b"),
        {R(dt, {64, 24}), R(dt, {64, 40})}, {R(dt, {24, 40}), R(dt, {40})});
    add("gemm_db_a_untransposed_" + d, K("gemm").s("bias_grad", "a"),
        {R(dt, {24, 64}), R(dt, {64, 40})}, {R(dt, {24, 40}), R(dt, {24})});
    add("gemm_db_b_tb_" + d, K("gemm").i("trans_b", 1).s("bias_grad", "b"),
        {R(dt, {24, 64}), R(dt, {40, 64})}, {R(dt, {24, 40}), R(dt, {40})});
  }
  add("gemm_db_a_ta_bf16_alpha", K("gemm").i("trans_a", 1).f("alpha", 0.5).s("bias_grad", "a"),
      {R(BF16, {64, 24}), R(BF16, {64, 40})}, {R(BF16, {24, 40}), R(BF16, {24})});
  // multi_add: pairs of different sizes, in place and into other buffers.
  for (DType dt : {BF16, F16, F32})
    add("multi_add_" + dtName(dt), K("multi_add"),
        {R(dt, {7}), R(dt, {7}), R(dt, {300}), R(dt, {300}), R(dt, {3, 5}), R(dt, {3, 5})},
        {Alias(R(dt, {7}), 0), R(dt, {300}), Alias(R(dt, {3, 5}), 4)});

  // ---- softmax family
  for (const char *op : {"softmax", "log_softmax"})
    for (int64_t axis : {2, 1}) {
      std::string o = op;
      add(o + "_f32_axis" + std::to_string(axis), K(op).i("axis", axis), {R(F32, {2, 3, 7}, -5, 5)},
          {R(F32, {2, 3, 7})});
      add(o + "_bf16_axis" + std::to_string(axis), K(op).i("axis", axis),
          {R(BF16, {2, 3, 7}, -5, 5)}, {R(BF16, {2, 3, 7})});
    }
  add("softmax_f64_axis2", K("softmax").i("axis", 2), {R(F64, {2, 3, 7}, -5, 5)},
      {R(F64, {2, 3, 7})});
  add("softmax_f16_axis0", K("softmax").i("axis", 0), {R(F16, {2, 3, 7}, -5, 5)},
      {R(F16, {2, 3, 7})});
  add("softmax_f32_wide_row", K("softmax").i("axis", 1), {R(F32, {3, 1000}, -10, 10)},
      {R(F32, {3, 1000})});
  add("softmax_f32_neg_inf", K("softmax").i("axis", 1),
      {V(F32, {2, 4}, {-kInf, 0, 1, -kInf, 2, -kInf, 3, 1})}, {R(F32, {2, 4})});
  for (const char *op : {"softmax_grad", "log_softmax_grad"})
    for (int64_t axis : {2, 1}) {
      std::string o = op;
      add(o + "_f32_axis" + std::to_string(axis), K(op).i("axis", axis),
          {R(F32, {2, 3, 7}), R(F32, {2, 3, 7}, 0, 1)}, {R(F32, {2, 3, 7})});
    }
  add("softmax_grad_bf16_axis2", K("softmax_grad").i("axis", 2),
      {R(BF16, {2, 3, 7}), R(BF16, {2, 3, 7}, 0, 1)}, {R(BF16, {2, 3, 7})});

  // ---- layer_norm (x, scale, [bias]) -> (y, [mean], [inv_std_dev])
  add("layer_norm_f32_axis2_all_outputs", K("layer_norm").i("axis", 2).f("epsilon", 1e-5),
      {R(F32, {2, 3, 8}, -3, 3), R(F32, {8}), R(F32, {8})},
      {R(F32, {2, 3, 8}), R(F32, {2, 3, 1}), R(F32, {2, 3, 1})});
  add("layer_norm_f32_axis1_scale_2d", K("layer_norm").i("axis", 1),
      {R(F32, {2, 3, 8}, -3, 3), R(F32, {3, 8}), R(F32, {8})},
      {R(F32, {2, 3, 8}), R(F32, {2, 1, 1}), R(F32, {2, 1, 1})});
  add("layer_norm_f32_no_bias_y_only", K("layer_norm").i("axis", 2).f("epsilon", 1e-3),
      {R(F32, {2, 3, 8}, -3, 3), R(F32, {8})}, {R(F32, {2, 3, 8})});
  add("layer_norm_bf16_f32_stats", K("layer_norm").i("axis", 1),
      {R(BF16, {4, 64}, -3, 3), R(BF16, {64}), R(BF16, {64})},
      {R(BF16, {4, 64}), R(F32, {4, 1}), R(F32, {4, 1})});
  add("layer_norm_f64_axis2", K("layer_norm").i("axis", 2),
      {R(F64, {2, 3, 8}, -3, 3), R(F64, {8}), R(F64, {8})},
      {R(F64, {2, 3, 8}), R(F64, {2, 3, 1}), R(F64, {2, 3, 1})});
  // layer_norm_grad (grad, x, scale) -> (dx, dscale, dbias)
  add("layer_norm_grad_f32_axis2", K("layer_norm_grad").i("axis", 2).f("epsilon", 1e-5),
      {R(F32, {2, 3, 8}), R(F32, {2, 3, 8}, -3, 3), R(F32, {8})},
      {R(F32, {2, 3, 8}), R(F32, {8}), R(F32, {8})});
  add("layer_norm_grad_f32_axis1", K("layer_norm_grad").i("axis", 1),
      {R(F32, {2, 3, 8}), R(F32, {2, 3, 8}, -3, 3), R(F32, {3, 8})},
      {R(F32, {2, 3, 8}), R(F32, {3, 8}), R(F32, {3, 8})});
  add("layer_norm_grad_bf16_axis1", K("layer_norm_grad").i("axis", 1),
      {R(BF16, {4, 64}), R(BF16, {4, 64}, -3, 3), R(BF16, {64})},
      {R(BF16, {4, 64}), R(BF16, {64}), R(BF16, {64})});
  // dx_acc, or dx_acc, dscale_acc, dbias_acc (ds-fold-accumulation), in place or not.
  add("layer_norm_grad_bf16_dx_acc", K("layer_norm_grad").i("axis", 1),
      {R(BF16, {4, 64}), R(BF16, {4, 64}, -3, 3), R(BF16, {64}), R(BF16, {4, 64})},
      {R(BF16, {4, 64}), R(BF16, {64}), R(BF16, {64})});
  add("layer_norm_grad_bf16_accs_in_place", K("layer_norm_grad").i("axis", 1),
      {R(BF16, {4, 64}), R(BF16, {4, 64}, -3, 3), R(BF16, {64}), R(BF16, {4, 64}),
       R(BF16, {64}), R(BF16, {64})},
      {Alias(R(BF16, {4, 64}), 3), Alias(R(BF16, {64}), 4), Alias(R(BF16, {64}), 5)});
  add("layer_norm_grad_f32_accs", K("layer_norm_grad").i("axis", 2).f("epsilon", 1e-5),
      {R(F32, {2, 3, 8}), R(F32, {2, 3, 8}, -3, 3), R(F32, {8}), R(F32, {2, 3, 8}), R(F32, {8}),
       R(F32, {8})},
      {R(F32, {2, 3, 8}), R(F32, {8}), R(F32, {8})});
  // Many row chunks (8 rows each, the last one short) and rows wider than a block.
  add("layer_norm_grad_f32_many_chunks", K("layer_norm_grad").i("axis", 1).f("epsilon", 1e-5),
      {R(F32, {1001, 96}), R(F32, {1001, 96}, -3, 3), R(F32, {96})},
      {R(F32, {1001, 96}), R(F32, {96}), R(F32, {96})});
  add("layer_norm_grad_bf16_wide_accs", K("layer_norm_grad").i("axis", 1),
      {R(BF16, {37, 1500}), R(BF16, {37, 1500}, -3, 3), R(BF16, {1500}), R(BF16, {37, 1500}),
       R(BF16, {1500}), R(BF16, {1500})},
      {R(BF16, {37, 1500}), R(BF16, {1500}), R(BF16, {1500})});
  // attention (q, k, v, [mask]) -> (out, lse f32); attention_grad (g, q, k, v, out, lse,
  // [mask])
  add("attention_f32_causal", K("attention").f("scale", 0.25).i("causal", 1),
      {R(F32, {2, 3, 70, 16}), R(F32, {2, 3, 70, 16}), R(F32, {2, 3, 70, 8})},
      {R(F32, {2, 3, 70, 8}), R(F32, {2, 3, 70})});
  add("attention_bf16_bool_mask", K("attention").f("scale", 0.25),
      {R(BF16, {2, 2, 33, 16}), R(BF16, {2, 2, 40, 16}), R(BF16, {2, 2, 40, 16}),
       R(I1, {2, 1, 1, 40})},
      {R(BF16, {2, 2, 33, 16}), R(F32, {2, 2, 33})});
  add("attention_f16_additive_mask", K("attention").f("scale", 0.5),
      {R(F16, {4, 20, 8}), R(F16, {4, 20, 8}), R(F16, {4, 20, 8}),
       R(F16, {20, 20}, -3, 0)},
      {R(F16, {4, 20, 8}), R(F32, {4, 20})});
  add("attention_grad_f32_causal", K("attention_grad").f("scale", 0.25).i("causal", 1),
      {R(F32, {2, 3, 70, 8}), R(F32, {2, 3, 70, 16}), R(F32, {2, 3, 70, 16}),
       R(F32, {2, 3, 70, 8}), R(F32, {2, 3, 70, 8}), R(F32, {2, 3, 70}, 3, 5)},
      {R(F32, {2, 3, 70, 16}), R(F32, {2, 3, 70, 16}), R(F32, {2, 3, 70, 8})});
  add("attention_grad_f32_grouped_query",
      K("attention_grad").f("scale", 0.25).i("causal", 1),
      {R(F32, {2, 6, 40, 8}), R(F32, {2, 6, 40, 16}), R(F32, {2, 2, 40, 16}),
       R(F32, {2, 2, 40, 8}), R(F32, {2, 6, 40, 8}), R(F32, {2, 6, 40}, 3, 5)},
      {R(F32, {2, 6, 40, 16}), R(F32, {2, 2, 40, 16}), R(F32, {2, 2, 40, 8})});
  add("attention_f32_grouped_query", K("attention").f("scale", 0.25),
      {R(F32, {2, 6, 40, 16}), R(F32, {2, 2, 40, 16}), R(F32, {2, 2, 40, 8})},
      {R(F32, {2, 6, 40, 8}), R(F32, {2, 6, 40})});
  add("attention_grad_bf16_bool_mask", K("attention_grad").f("scale", 0.25),
      {R(BF16, {2, 33, 16}), R(BF16, {2, 33, 16}), R(BF16, {2, 40, 16}),
       R(BF16, {2, 40, 16}), R(BF16, {2, 33, 16}), R(F32, {2, 33}, 3, 5),
       R(I1, {33, 40})},
      {R(BF16, {2, 33, 16}), R(BF16, {2, 40, 16}), R(BF16, {2, 40, 16})});

  // layout bshd: q, k, v, out, g, dq, dk, dv [B, T, H, D] read through row strides; lse
  // [B, H, T]
  add("attention_bf16_bshd_causal",
      K("attention").f("scale", 0.25).i("causal", 1).s("layout", "bshd"),
      {R(BF16, {2, 70, 3, 16}), R(BF16, {2, 70, 3, 16}), R(BF16, {2, 70, 3, 8})},
      {R(BF16, {2, 70, 3, 8}), R(F32, {2, 3, 70})});
  add("attention_f32_bshd_grouped_bool_mask",
      K("attention").f("scale", 0.25).s("layout", "bshd"),
      {R(F32, {2, 33, 6, 16}), R(F32, {2, 40, 2, 16}), R(F32, {2, 40, 2, 8}),
       R(I1, {2, 1, 1, 40})},
      {R(F32, {2, 33, 6, 8}), R(F32, {2, 6, 33})});
  add("attention_grad_bf16_bshd_causal",
      K("attention_grad").f("scale", 0.25).i("causal", 1).s("layout", "bshd"),
      {R(BF16, {2, 70, 3, 8}), R(BF16, {2, 70, 3, 16}), R(BF16, {2, 70, 3, 16}),
       R(BF16, {2, 70, 3, 8}), R(BF16, {2, 70, 3, 8}), R(F32, {2, 3, 70}, 3, 5)},
      {R(BF16, {2, 70, 3, 16}), R(BF16, {2, 70, 3, 16}), R(BF16, {2, 70, 3, 8})});
  add("attention_grad_f32_bshd_grouped",
      K("attention_grad").f("scale", 0.25).s("layout", "bshd"),
      {R(F32, {2, 40, 6, 8}), R(F32, {2, 40, 6, 16}), R(F32, {2, 40, 2, 16}),
       R(F32, {2, 40, 2, 8}), R(F32, {2, 40, 6, 8}), R(F32, {2, 6, 40}, 3, 5)},
      {R(F32, {2, 40, 6, 16}), R(F32, {2, 40, 2, 16}), R(F32, {2, 40, 2, 8})});

  // packed: qkv, dqkv [B, T, 3, H, D] (q, k, v parts of each row), out, g [B, T, H, D]
  add("packed_attention_bf16_causal",
      K("packed_attention").f("scale", 0.25).i("causal", 1), {R(BF16, {2, 70, 3, 3, 16})},
      {R(BF16, {2, 70, 3, 16}), R(F32, {2, 3, 70})});
  add("packed_attention_f32_bool_mask", K("packed_attention").f("scale", 0.25),
      {R(F32, {2, 40, 3, 2, 16}), R(I1, {2, 1, 1, 40})},
      {R(F32, {2, 40, 2, 16}), R(F32, {2, 2, 40})});
  add("packed_attention_grad_bf16_causal",
      K("packed_attention_grad").f("scale", 0.25).i("causal", 1),
      {R(BF16, {2, 70, 3, 16}), R(BF16, {2, 70, 3, 3, 16}), R(BF16, {2, 70, 3, 16}),
       R(F32, {2, 3, 70}, 3, 5)},
      {R(BF16, {2, 70, 3, 3, 16})});
  add("packed_attention_grad_f32", K("packed_attention_grad").f("scale", 0.25),
      {R(F32, {2, 40, 2, 16}), R(F32, {2, 40, 3, 2, 16}), R(F32, {2, 40, 2, 16}),
       R(F32, {2, 2, 40}, 3, 5)},
      {R(F32, {2, 40, 3, 2, 16})});

  // ---- losses: scores [N,C] or [N,C,D], labels with ignore_index -100 present
  const std::vector<double> lab2{1, -100, 4, 0, 2, 4}; // [6]
  const std::vector<double> lab3{0, 4, -100, 2, 1, 3}; // [3,2]
  for (const char *op : {"softmax_cross_entropy_loss", "nll_loss"}) {
    std::string o = op;
    bool sce = o == "softmax_cross_entropy_loss";
    for (const char *red : {"mean", "sum", "none"}) {
      std::string r = red;
      std::vector<Spec> out2{
          R(F32, r == "none" ? std::vector<int64_t>{6} : std::vector<int64_t>{})};
      if (sce)
        out2.push_back(R(F32, {6, 5}));
      add(o + "_" + r + "_f32", K(op).s("reduction", red).i("ignore_index", -100),
          {R(F32, {6, 5}, -3, 3), V(I64, {6}, lab2)}, out2);
      std::vector<Spec> out3{
          R(F32, r == "none" ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{})};
      add(o + "_" + r + "_f32_3d_weights", K(op).s("reduction", red).i("ignore_index", -100),
          {R(F32, {3, 5, 2}, -3, 3), V(I64, {3, 2}, lab3), R(F32, {5}, 0.2, 2)}, out3);
      // gradients: (grad, scores, labels, [weights]) -> dscores
      std::string g = o + "_grad";
      add(g + "_" + r + "_f32", K(g).s("reduction", red).i("ignore_index", -100),
          {R(F32, r == "none" ? std::vector<int64_t>{6} : std::vector<int64_t>{}),
           R(F32, {6, 5}, -3, 3), V(I64, {6}, lab2)},
          {R(F32, {6, 5})});
      add(g + "_" + r + "_f32_3d_weights", K(g).s("reduction", red).i("ignore_index", -100),
          {R(F32, r == "none" ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{}),
           R(F32, {3, 5, 2}, -3, 3), V(I64, {3, 2}, lab3), R(F32, {5}, 0.2, 2)},
          {R(F32, {3, 5, 2})});
      if (!sce)
        continue;
      // The loss with its gradient (ds-fuse-loss-grad): (grad, scores, labels, [weights])
      // -> (loss, dscores).
      std::string f = "softmax_cross_entropy_loss_with_grad_" + r;
      std::vector<int64_t> per2 = r == "none" ? std::vector<int64_t>{6} : std::vector<int64_t>{};
      std::vector<int64_t> per3 =
          r == "none" ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{};
      Ins fk = K("softmax_cross_entropy_loss_with_grad").s("reduction", red).i("ignore_index", -100);
      add(f + "_f32", fk, {R(F32, per2, 0.5, 2), R(F32, {6, 5}, -3, 3), V(I64, {6}, lab2)},
          {R(F32, per2), R(F32, {6, 5})});
      add(f + "_f32_3d_weights", fk,
          {R(F32, per3, 0.5, 2), R(F32, {3, 5, 2}, -3, 3), V(I64, {3, 2}, lab3),
           R(F32, {5}, 0.2, 2)},
          {R(F32, per3), R(F32, {3, 5, 2})});
      add(f + "_bf16_scores_f32_loss", fk,
          {R(F32, per2, 0.5, 2), R(BF16, {6, 5}, -3, 3), V(I32, {6}, lab2)},
          {R(F32, per2), R(BF16, {6, 5})});
      // dscores over the scores (ds-fuse-loss-grad's in-place form): the row kernel with
      // rows longer than a block, and the column kernel.
      add(f + "_bf16_in_place", fk,
          {R(F32, per2, 0.5, 2), R(BF16, {6, 1500}, -3, 3), V(I64, {6}, lab2)},
          {R(F32, per2), Alias(R(BF16, {6, 1500}), 1)});
      add(f + "_f32_3d_in_place", fk,
          {R(F32, per3, 0.5, 2), R(F32, {3, 5, 2}, -3, 3), V(I64, {3, 2}, lab3)},
          {R(F32, per3), Alias(R(F32, {3, 5, 2}), 1)});
    }
    add(o + "_mean_bf16_i32_labels", K(op).i("ignore_index", -100),
        {R(BF16, {6, 5}, -3, 3), V(I32, {6}, lab2)}, {R(BF16, {})});
    add(o + "_mean_f32_no_ignore_attr", K(op),
        {R(F32, {6, 5}, -3, 3), V(I64, {6}, {1, 0, 4, 0, 2, 3})}, {R(F32, {})});
    // Mixed precision's widened loss: 16-bit scores, an f32 loss; the gradient takes an f32
    // grad and gives 16-bit dscores.
    for (DType dt : {BF16, F16}) {
      std::string d = dt == BF16 ? "bf16" : "f16";
      add(o + "_sum_" + d + "_scores_f32_loss", K(op).s("reduction", "sum").i("ignore_index", -100),
          {R(dt, {6, 5}, -3, 3), V(I64, {6}, lab2)}, {R(F32, {})});
      add(o + "_none_" + d + "_scores_f32_loss_3d", K(op).s("reduction", "none"),
          {R(dt, {3, 5, 2}, -3, 3), V(I64, {3, 2}, {0, 4, 1, 2, 1, 3})}, {R(F32, {3, 2})});
      add(o + "_grad_mean_" + d + "_scores_f32_grad",
          K(o + "_grad").s("reduction", "mean").i("ignore_index", -100),
          {R(F32, {}), R(dt, {6, 5}, -3, 3), V(I64, {6}, lab2)}, {R(dt, {6, 5})});
    }
  }

  // ---- reductions
  struct Red {
    const char *name;
    std::vector<int64_t> axes;
    int keep;
    std::vector<int64_t> shape;
  };
  const Red reds[] = {{"axis1_keep", {1}, 1, {2, 1, 4}}, {"axis2_nokeep", {2}, 0, {2, 3}},
                      {"axes02_nokeep", {0, 2}, 0, {3}}, {"axes01_keep", {0, 1}, 1, {1, 1, 4}},
                      {"all_nokeep", {}, 0, {}},         {"all_keep", {0, 1, 2}, 1, {1, 1, 1}}};
  for (const char *op : {"reduce_sum", "reduce_mean", "reduce_max"})
    for (const Red &r : reds)
      add(std::string(op) + "_f32_" + r.name, K(op).ints("axes", r.axes).i("keepdims", r.keep),
          {R(F32, S)}, {R(F32, r.shape)});
  add("reduce_sum_bf16_axis2", K("reduce_sum").ints("axes", {2}).i("keepdims", 0), {R(BF16, S)},
      {R(BF16, {2, 3})});
  add("reduce_max_bf16_axes01", K("reduce_max").ints("axes", {0, 1}).i("keepdims", 1), {R(BF16, S)},
      {R(BF16, {1, 1, 4})});
  add("reduce_mean_f64_axis1", K("reduce_mean").ints("axes", {1}).i("keepdims", 0), {R(F64, S)},
      {R(F64, {2, 4})});
  add("reduce_sum_i64_axes02", K("reduce_sum").ints("axes", {0, 2}).i("keepdims", 0),
      {Z(I64, S, -50, 50)}, {R(I64, {3})});
  // max keeps a NaN wherever it is (torch.amax), and an all--inf slice reduces to -inf.
  add("reduce_max_f32_special", K("reduce_max").ints("axes", {1}).i("keepdims", 0),
      {V(F32, {4, 3}, {1, 2, kNaN, kNaN, 2, 1, -kInf, -kInf, -kInf, 1, kInf, 3})},
      {R(F32, {4})});
  add("reduce_max_f32_special_axis0", K("reduce_max").ints("axes", {0}).i("keepdims", 0),
      {V(F32, {4, 3}, {1, 2, kNaN, kNaN, 2, 1, -kInf, -kInf, -kInf, 1, kInf, 3})},
      {R(F32, {3})});
  add("softmax_f32_special", K("softmax").i("axis", 1),
      {V(F32, {3, 3}, {1, kNaN, 2, kInf, 1, 0, -kInf, 0, 0})}, {R(F32, {3, 3})});
  add("reduce_max_i64_axis1", K("reduce_max").ints("axes", {1}).i("keepdims", 1),
      {Z(I64, S, -50, 50)}, {R(I64, {2, 1, 4})});
  add("reduce_sum_f32_large", K("reduce_sum").ints("axes", {1}).i("keepdims", 0),
      {R(F32, {3, 5000})}, {R(F32, {3})});
  // reduce_sum's acc (ds-fold-accumulation): into another buffer and in place, one pass and
  // the two-pass (scratch) reduction, the all-size-1 case.
  add("reduce_sum_bf16_acc", K("reduce_sum").ints("axes", {0, 1}).i("keepdims", 1),
      {R(BF16, S), R(BF16, {1, 1, 4})}, {R(BF16, {1, 1, 4})});
  add("reduce_sum_bf16_acc_in_place", K("reduce_sum").ints("axes", {0, 1}).i("keepdims", 1),
      {R(BF16, S), R(BF16, {1, 1, 4})}, {Alias(R(BF16, {1, 1, 4}), 1)});
  add("reduce_sum_f32_large_acc_in_place", K("reduce_sum").ints("axes", {0}).i("keepdims", 0),
      {R(F32, {5000, 3}), R(F32, {3})}, {Alias(R(F32, {3}), 1)});
  add("reduce_sum_f16_acc_size1", K("reduce_sum").ints("axes", {0}).i("keepdims", 0),
      {R(F16, {1, 6}), R(F16, {6})}, {R(F16, {6})});

  // ---- data movement
  add("transpose_f32_0213", K("transpose").ints("perm", {0, 2, 1, 3}), {R(F32, {2, 3, 4, 5})},
      {R(F32, {2, 4, 3, 5})});
  add("transpose_bf16_0213", K("transpose").ints("perm", {0, 2, 1, 3}), {R(BF16, {2, 3, 4, 5})},
      {R(BF16, {2, 4, 3, 5})});
  add("transpose_i64_0213", K("transpose").ints("perm", {0, 2, 1, 3}), {Z(I64, {2, 3, 4, 5})},
      {R(I64, {2, 4, 3, 5})});
  add("transpose_f32_10", K("transpose").ints("perm", {1, 0}), {R(F32, {7, 5})}, {R(F32, {5, 7})});
  add("gather_f32_axis0_neg_indices", K("gather").i("axis", 0),
      {R(F32, {5, 4}), V(I64, {2, 3}, {0, -1, 3, 2, -5, 4})}, {R(F32, {2, 3, 4})});
  add("gather_bf16_axis1_i32", K("gather").i("axis", 1),
      {R(BF16, {3, 5}), V(I32, {4}, {4, -2, 0, 0})}, {R(BF16, {3, 4})});
  add("gather_i64_axis0", K("gather").i("axis", 0), {Z(I64, {5, 3}), V(I64, {3}, {2, -1, 2})},
      {R(I64, {3, 3})});
  add("gather_grad_f32_axis0_repeated", K("gather_grad").i("axis", 0),
      {R(F32, {2, 3, 4}), V(I64, {2, 3}, {1, 1, -1, 4, 1, 0})}, {R(F32, {5, 4})});
  add("gather_grad_f32_axis1_repeated", K("gather_grad").i("axis", 1),
      {R(F32, {3, 4}), V(I64, {4}, {2, 2, -3, 0})}, {R(F32, {3, 5})});
  // Slice attributes are normalized (starts/ends in [-1, d]): a negative end (-1) with a
  // negative step reads down to index 0.
  add("slice_f32_steps",
      K("slice").ints("starts", {1, 5}).ints("ends", {4, -1}).ints("steps", {2, -2}),
      {R(F32, {4, 6})}, {R(F32, {2, 3})});
  add("slice_f32_reverse", K("slice").ints("starts", {3}).ints("ends", {-1}).ints("steps", {-1}),
      {R(F32, {4})}, {R(F32, {4})});
  add("slice_bf16_3d", K("slice").ints("starts", {0, 1, 2}).ints("ends", {2, 3, 7}),
      {R(BF16, {2, 4, 8})}, {R(BF16, {2, 2, 5})});
  add("slice_i64_step3",
      K("slice").ints("starts", {0, 0}).ints("ends", {3, 8}).ints("steps", {1, 3}),
      {Z(I64, {3, 8})}, {R(I64, {3, 3})});
  add("slice_grad_f32_steps",
      K("slice_grad").ints("starts", {1, 5}).ints("ends", {4, -1}).ints("steps", {2, -2}),
      {R(F32, {2, 3})}, {R(F32, {4, 6})});
  add("slice_grad_f32_3d", K("slice_grad").ints("starts", {0, 1, 2}).ints("ends", {2, 3, 7}),
      {R(F32, {2, 2, 5})}, {R(F32, {2, 4, 8})});
  add("split_f32_axis1", K("split").i("axis", 1).ints("sizes", {2, 4, 1}), {R(F32, {2, 7, 3})},
      {R(F32, {2, 2, 3}), R(F32, {2, 4, 3}), R(F32, {2, 1, 3})});
  add("split_bf16_axis2_with_empty", K("split").i("axis", 2).ints("sizes", {3, 0, 5}),
      {R(BF16, {2, 3, 8})}, {R(BF16, {2, 3, 3}), R(BF16, {2, 3, 0}), R(BF16, {2, 3, 5})});
  add("concat_f32_axis1", K("concat").i("axis", 1),
      {R(F32, {2, 3, 4}), R(F32, {2, 1, 4}), R(F32, {2, 2, 4})}, {R(F32, {2, 6, 4})});
  add("concat_i64_axis0", K("concat").i("axis", 0), {Z(I64, {1, 3}), Z(I64, {2, 3})},
      {R(I64, {3, 3})});
  { // ZeRO buckets: [W, p_i] pieces laid out rank-major, many pieces in one launch
    std::vector<Spec> rows, pieces;
    std::vector<int64_t> widths;
    int64_t total = 0;
    for (int64_t i = 0; i < 70; ++i) {
      int64_t w = i % 7 == 3 ? 0 : 1 + (i * 37) % 23;
      widths.push_back(w);
      rows.push_back(R(BF16, {2, w}));
      pieces.push_back(R(BF16, {2, w}));
      total += w;
    }
    add("concat_bf16_bucket_70_pieces", K("concat").i("axis", 1), rows, {R(BF16, {2, total})});
    add("split_bf16_bucket_70_pieces", K("split").i("axis", 1).ints("sizes", widths),
        {R(BF16, {2, total})}, pieces);
  }
  add("expand_f32_3x1_to_2x3x4", K("expand"), {R(F32, {3, 1})}, {R(F32, S)});
  add("expand_bf16_4_to_2x3x4", K("expand"), {R(BF16, {4})}, {R(BF16, S)});
  add("expand_i1_1x3x1", K("expand"), {R(I1, {1, 3, 1})}, {R(I1, S)});
  for (int upper : {1, 0})
    for (int k : {1, -1, 0}) {
      std::string n = std::string("trilu_") + (upper ? "upper" : "lower") + "_k" +
                      (k < 0 ? "m" + std::to_string(-k) : std::to_string(k)) + "_f32";
      add(n, K("trilu").i("upper", upper).i("k", k), {R(F32, {2, 4, 5})}, {R(F32, {2, 4, 5})});
    }
  add("trilu_upper_k1_bf16_inplace", K("trilu").i("upper", 1).i("k", 1), {R(BF16, {2, 5, 4})},
      {Alias(R(BF16, {2, 5, 4}), 0)});
  add("trilu_lower_km1_i64", K("trilu").i("upper", 0).i("k", -1), {Z(I64, {5, 5})},
      {R(I64, {5, 5})});
  add("reshape_f32", K("reshape"), {R(F32, S)}, {R(F32, {6, 4})});
  add("reshape_f32_inplace", K("reshape"), {R(F32, S)}, {Alias(R(F32, S), 0)});
  add("squeeze_f32", K("squeeze").ints("axes", {1}), {R(F32, {2, 1, 4})}, {R(F32, {2, 4})});
  add("unsqueeze_f32", K("unsqueeze").ints("axes", {0, 3}), {R(F32, {2, 4})},
      {R(F32, {1, 2, 4, 1})});
  add("copy_f32", K("copy"), {R(F32, S)}, {R(F32, {24})});
  add("copy_f32_count_offsets", K("copy").i("count", 5).i("src_offset", 3).i("dst_offset", 7),
      {R(F32, {24})}, {R(F32, {16})});
  add("copy_bf16_rows", K("copy").i("count", 5).i("dst_offset", 2).i("rows", 3)
                            .i("src_row_stride", 6).i("dst_row_stride", 8),
      {R(BF16, {18})}, {R(BF16, {24})});
  add("fill_bf16", K("fill").f("value", 1.25), {}, {R(BF16, S)});
  {
    Ins con = K("constant");
    auto *l = (*con.ins.mutable_attrs())["value"].mutable_floats();
    for (double v : {1.5, -2.0, 3.25})
      l->add_values(v);
    add("constant_f32_floats", con, {}, {R(F32, {3})});
    add("constant_i64_scalar_int", K("constant").i("value", -7), {}, {R(I64, {2, 2})});
  }

  // ---- dropout (training, ratio 0.5): y and mask compared exactly/closely
  add("dropout_f32_train",
      K("dropout").f("ratio", 0.5).i("training", 1).i("seed", 7).i("counter", 3),
      {R(F32, {4, 257})}, {R(F32, {4, 257}), R(I1, {4, 257})});
  add("dropout_bf16_train", K("dropout").f("ratio", 0.5).i("training", 1).i("seed", 11),
      {R(BF16, {3, 100})}, {R(BF16, {3, 100}), R(I1, {3, 100})});
  add("dropout_f32_train_inplace_no_mask",
      K("dropout").f("ratio", 0.3).i("training", 1).i("seed", 5).i("counter", 1), {R(F32, {1000})},
      {Alias(R(F32, {1000}), 0)});
  add("dropout_f32_eval", K("dropout").f("ratio", 0.5).i("training", 0), {R(F32, {4, 33})},
      {R(F32, {4, 33}), R(I1, {4, 33})});

  // ---- optimizers (in place: p', m', v' alias p, m, v). Inputs (p, g, m, v, lr, step, [finite]).
  auto adamIns = [](const char *k) {
    return K(k)
        .f("beta1", 0.9)
        .f("beta2", 0.999)
        .f("eps", 1e-8)
        .f("weight_decay", 0.01)
        .i("bias_correction", 1);
  };
  auto moments = [](DType dt, std::vector<double> finite) {
    std::vector<Spec> in{R(dt, {67}),          R(dt, {67}, -0.1, 0.1), R(dt, {67}, -0.1, 0.1),
                         R(dt, {67}, 0, 0.01), V(F32, {}, {1e-3}),     V(I64, {}, {3})};
    if (!finite.empty())
      in.push_back(V(F32, {}, finite));
    return in;
  };
  auto momentsOut = [](DType dt, bool inPlace) {
    if (!inPlace)
      return std::vector<Spec>{R(dt, {67}), R(dt, {67}), R(dt, {67})};
    return std::vector<Spec>{Alias(R(dt, {67}), 0), Alias(R(dt, {67}), 2), Alias(R(dt, {67}), 3)};
  };
  add("adam_update_adamw_f32_inplace", adamIns("adam_update").i("adam_w_mode", 1), moments(F32, {}),
      momentsOut(F32, true));
  add("adam_update_adam_f32_inplace", adamIns("adam_update").i("adam_w_mode", 0), moments(F32, {}),
      momentsOut(F32, true));
  add("adam_update_adamw_f32_separate_finite1", adamIns("adam_update").i("adam_w_mode", 1),
      moments(F32, {1}), momentsOut(F32, false));
  add("adam_update_adamw_f32_skipped_finite0", adamIns("adam_update").i("adam_w_mode", 1),
      moments(F32, {0}), momentsOut(F32, false));
  add("adam_update_adamw_bf16_inplace", adamIns("adam_update").i("adam_w_mode", 1),
      moments(BF16, {}), momentsOut(BF16, true));
  add("adam_update_adamw_f64_inplace_nobc",
      adamIns("adam_update").i("adam_w_mode", 1).i("bias_correction", 0), moments(F64, {}),
      momentsOut(F64, true));
  add("lamb_update_f32_inplace", adamIns("lamb_update").f("min_coeff", 0.01).f("max_coeff", 10),
      moments(F32, {}), momentsOut(F32, true));
  add("lamb_update_f32_separate_finite_nan", adamIns("lamb_update"), moments(F32, {kNaN}),
      momentsOut(F32, false));
  add("lamb_update_bf16_inplace", adamIns("lamb_update"), moments(BF16, {1}),
      momentsOut(BF16, true));
  // sgd_update (p, g, buf, lr, step, [finite]) -> (p', buf')
  auto sgdIns = [](double mu, double damp, int nesterov) {
    return K("sgd_update")
        .f("momentum", mu)
        .f("dampening", damp)
        .f("weight_decay", 1e-4)
        .i("nesterov", nesterov);
  };
  auto sgdIn = [](DType dt, int64_t step, std::vector<double> finite) {
    std::vector<Spec> in{R(dt, {67}), R(dt, {67}, -0.1, 0.1), R(dt, {67}, -0.1, 0.1),
                         V(F32, {}, {0.05}), V(I64, {}, {double(step)})};
    if (!finite.empty())
      in.push_back(V(F32, {}, finite));
    return in;
  };
  add("sgd_update_nesterov_f32_inplace", sgdIns(0.9, 0, 1), sgdIn(F32, 2, {}),
      {Alias(R(F32, {67}), 0), Alias(R(F32, {67}), 2)});
  add("sgd_update_dampening_f32_step1", sgdIns(0.9, 0.1, 0), sgdIn(F32, 1, {}),
      {R(F32, {67}), R(F32, {67})});
  add("sgd_update_no_momentum_f32", sgdIns(0, 0, 0), sgdIn(F32, 4, {1}),
      {R(F32, {67}), R(F32, {67})});
  add("sgd_update_f32_skipped_finite0", sgdIns(0.9, 0, 0), sgdIn(F32, 4, {0}),
      {R(F32, {67}), R(F32, {67})});
  add("sgd_update_bf16_inplace", sgdIns(0.9, 0, 0), sgdIn(BF16, 3, {}),
      {Alias(R(BF16, {67}), 0), Alias(R(BF16, {67}), 2)});
  // lr_schedule (applied i64 scalar) -> f32 scalar
  add("lr_schedule_constant", K("lr_schedule").s("schedule", "constant").f("lr", 0.01),
      {V(I64, {}, {7})}, {R(F32, {})});
  add("lr_schedule_warmup_log",
      K("lr_schedule")
          .s("schedule", "WarmupLR")
          .f("lr", 0.01)
          .f("warmup_min_lr", 1e-5)
          .f("warmup_max_lr", 1e-3)
          .i("warmup_num_steps", 10),
      {V(I64, {}, {5})}, {R(F32, {})});
  add("lr_schedule_warmup_decay_linear",
      K("lr_schedule")
          .s("schedule", "WarmupDecayLR")
          .f("lr", 0.01)
          .f("warmup_max_lr", 2e-3)
          .i("warmup_num_steps", 10)
          .s("warmup_type", "linear")
          .i("total_num_steps", 100),
      {V(I64, {}, {50})}, {R(F32, {})});
  add("lr_schedule_warmup_cosine",
      K("lr_schedule")
          .s("schedule", "WarmupCosineLR")
          .f("lr", 0.01)
          .f("warmup_min_ratio", 0.1)
          .f("cos_min_ratio", 0.01)
          .i("warmup_num_steps", 10)
          .i("total_num_steps", 100),
      {V(I64, {}, {30})}, {R(F32, {})});
  add("lr_schedule_warmup_step0",
      K("lr_schedule").s("schedule", "WarmupLR").f("lr", 0.01).f("warmup_min_lr", 1e-5),
      {V(I64, {}, {0})}, {R(F32, {})});
  // all_finite (x0..xn) -> f32 scalar
  add("all_finite_all_finite", K("all_finite"),
      {R(F32, {10}), R(BF16, {7}), R(F16, {5}), R(F64, {3})}, {R(F32, {})});
  add("all_finite_inf_in_bf16", K("all_finite"),
      {R(F32, {10}), V(BF16, {4}, {1, 2, kInf, 3}), R(F16, {5})}, {R(F32, {})});
  add("all_finite_nan_in_f32", K("all_finite"), {V(F32, {3}, {1, kNaN, 2}), R(F16, {5})},
      {R(F32, {})});
  add("all_finite_neg_inf_f16", K("all_finite"), {R(F32, {3}), V(F16, {2}, {-kInf, 1})},
      {R(F32, {})});
  { // one launch over all inputs: a NaN in the last slice of a tensor of several blocks
    std::vector<double> big(200000, 1.0);
    big.back() = kNaN;
    add("all_finite_nan_in_last_block", K("all_finite"),
        {R(F32, {70000}), R(BF16, {3}), V(F32, {200000}, big), R(F16, {9})}, {R(F32, {})});
    add("all_finite_many_blocks_finite", K("all_finite"),
        {R(F32, {70000}), R(BF16, {140000}), R(F16, {9})}, {R(F32, {})});
  }
  // loss_scale_update (finite, scale, counters{it,last,hy}) -> (new_scale, new_counters)
  add("loss_scale_update_clean_grow", K("loss_scale_update").i("scale_window", 5),
      {V(F32, {}, {1}), V(F32, {}, {65536}), V(I64, {3}, {5, -1, 2})}, {R(F32, {}), R(I64, {3})});
  add("loss_scale_update_overflow_hysteresis", K("loss_scale_update").i("hysteresis", 2),
      {V(F32, {}, {0}), V(F32, {}, {65536}), V(I64, {3}, {5, 2, 2})}, {R(F32, {}), R(I64, {3})});
  add("loss_scale_update_overflow_halve_inplace", K("loss_scale_update").i("hysteresis", 2),
      {V(F32, {}, {0}), V(F32, {}, {65536}), V(I64, {3}, {5, 2, 1})},
      {Alias(R(F32, {}), 1), Alias(R(I64, {3}), 2)});
  add("loss_scale_update_stage0", K("loss_scale_update").i("zero", 0).i("scale_window", 3),
      {V(F32, {}, {kNaN}), V(F32, {}, {1024}), V(I64, {3}, {9, 4, 2})}, {R(F32, {}), R(I64, {3})});

  // ---- collectives on a world of one
  add("all_reduce_sum_f32", K("all_reduce").s("reduction", "sum"), {R(F32, S)}, {R(F32, S)});
  add("all_reduce_avg_bf16_inplace", K("all_reduce").s("reduction", "avg"), {R(BF16, S)},
      {Alias(R(BF16, S), 0)});
  add("all_reduce_max_i64", K("all_reduce").s("reduction", "max"), {Z(I64, S)}, {R(I64, S)});
  add("all_gather_f32_axis0", K("all_gather").i("axis", 0), {R(F32, S)}, {R(F32, S)});
  add("all_gather_bf16_axis1", K("all_gather").i("axis", 1), {R(BF16, S)}, {R(BF16, S)});
  add("reduce_scatter_sum_f32_axis1", K("reduce_scatter").i("axis", 1).s("reduction", "sum"),
      {R(F32, S)}, {R(F32, S)});
  add("reduce_scatter_min_i64_axis0", K("reduce_scatter").i("axis", 0).s("reduction", "min"),
      {Z(I64, S)}, {R(I64, S)});
  add("broadcast_f32_root0_inplace", K("broadcast").i("root", 0), {R(F32, S)},
      {Alias(R(F32, S), 0)});
  // ---- convolutional networks: conv (cuDNN) and its gradients, batch_norm, pooling
  auto conv = [&](const char *k, std::vector<int64_t> st, std::vector<int64_t> pads,
                  std::vector<int64_t> dil, int64_t group) {
    return K(k).ints("strides", st).ints("pads", pads).ints("dilations", dil).i("group", group);
  };
  for (DType dt : {F32, F64, BF16}) {
    std::string d = dtName(dt);
    double tol = dt == F32 ? 2e-4 : -1;
    add("conv_" + d + "_stride2_bias", conv("conv", {2, 2}, {1, 1, 1, 1}, {1, 1}, 1),
        {R(dt, {2, 3, 9, 9}), R(dt, {4, 3, 3, 3}), R(dt, {4})}, {R(dt, {2, 4, 5, 5})}, tol);
    add("conv_" + d + "_depthwise", conv("conv", {1, 1}, {1, 1, 1, 1}, {1, 1}, 4),
        {R(dt, {2, 4, 6, 6}), R(dt, {4, 1, 3, 3})}, {R(dt, {2, 4, 6, 6})}, tol);
    add("conv_" + d + "_1d_dilated", conv("conv", {1}, {2, 2}, {2}, 1),
        {R(dt, {2, 3, 9}), R(dt, {5, 3, 3})}, {R(dt, {2, 5, 9})}, tol);
    add("conv_grad_input_" + d + "_grouped", conv("conv_grad_input", {2, 2}, {1, 1, 1, 1}, {1, 1}, 2),
        {R(dt, {2, 6, 4, 4}), R(dt, {6, 2, 3, 3})}, {R(dt, {2, 4, 8, 8})}, tol);
    add("conv_grad_filter_" + d + "_grouped", conv("conv_grad_filter", {2, 2}, {1, 1, 1, 1}, {1, 1}, 2),
        {R(dt, {2, 6, 4, 4}), R(dt, {2, 4, 8, 8})}, {R(dt, {6, 2, 3, 3})}, tol);
    add("batch_norm_" + d, K("batch_norm").f("epsilon", 1e-5),
        {R(dt, {4, 3, 5, 5}, 8, 12), R(dt, {3}), R(dt, {3})},
        {R(dt, {4, 3, 5, 5}), R(dt, {3}), R(dt, {3})});
    add("batch_norm_grad_" + d, K("batch_norm_grad").f("epsilon", 1e-5),
        {R(dt, {4, 3, 5, 5}), R(dt, {4, 3, 5, 5}), R(dt, {3}), R(dt, {3}), R(dt, {3}, 0.5, 2)},
        {R(dt, {4, 3, 5, 5}), R(dt, {3}), R(dt, {3})}, dt == F32 ? 1e-4 : -1);
    auto pool = [&](const char *k, bool ceil, bool countPad) {
      return K(k).ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1})
          .ints("dilations", {1, 1}).i("ceil_mode", ceil).i("count_include_pad", countPad);
    };
    add("max_pool_" + d, pool("max_pool", false, false), {R(dt, {2, 3, 8, 8})},
        {R(dt, {2, 3, 4, 4})});
    add("max_pool_grad_" + d, pool("max_pool_grad", false, false),
        {R(dt, {2, 3, 4, 4}), R(dt, {2, 3, 8, 8})}, {R(dt, {2, 3, 8, 8})});
    add("avg_pool_" + d + "_ceil_count_pad", pool("avg_pool", true, true), {R(dt, {2, 3, 8, 8})},
        {R(dt, {2, 3, 5, 5})});
    add("avg_pool_grad_" + d, pool("avg_pool_grad", false, false), {R(dt, {2, 3, 4, 4})},
        {R(dt, {2, 3, 8, 8})});
  }
  return cs;
}

} // namespace ds::rt::test::cuda_cases
