// RUN: ds-opt %s --split-input-file --ds-fold-accumulation | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fold-accumulation | ds-opt --split-input-file | FileCheck %s

dsrt.global @b.grad : memref<3xbf16>

// Tests that a bias gradient (reduce_sum over the rows, then an add into the gradient
// global) becomes one reduce_sum that takes the global as acc and writes it in place; the
// reduce drops the kept 1 that the add's view dropped, so no view is needed; the transient
// and the add are gone.
// CHECK-LABEL: func.func @bias_grad
//  CHECK-NEXT:   %[[G:.+]] = dsrt.param @b.grad : memref<3xbf16>
//  CHECK-NEXT:   %[[G2:.+]] = dsrt.param @b.grad : memref<3xbf16>
//  CHECK-NEXT:   dsrt.kernel "reduce_sum" ins(%arg0, %[[G]] : memref<5x3xbf16>, memref<3xbf16>) outs(%[[G2]] : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
//  CHECK-NEXT:   return
func.func @bias_grad(%dy: memref<5x3xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<1x3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy : memref<5x3xbf16>) outs(%s : memref<1x3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = true}}
  %v = dsrt.view %s : memref<1x3xbf16> to memref<3xbf16>
  %g = dsrt.param @b.grad : memref<3xbf16>
  %g2 = dsrt.param @b.grad : memref<3xbf16>
  dsrt.kernel "add" ins(%g, %v : memref<3xbf16>, memref<3xbf16>) outs(%g2 : memref<3xbf16>)
  return
}

// Tests that the acc and the result are viewed in the reduce's shape where they have
// another one (here the add's is [3, 1]).
// CHECK-LABEL: func.func @bias_grad_views
//       CHECK:   %[[A:.+]] = dsrt.view %{{.+}} : memref<3x1xbf16> to memref<1x3xbf16>
//  CHECK-NEXT:   %[[O:.+]] = dsrt.view %arg1 : memref<3x1xbf16> to memref<1x3xbf16>
//  CHECK-NEXT:   dsrt.kernel "reduce_sum" ins(%arg0, %[[A]] : memref<5x3xbf16>, memref<1x3xbf16>) outs(%[[O]] : memref<1x3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = true}}
//  CHECK-NEXT:   return
func.func @bias_grad_views(%dy: memref<5x3xbf16>, %o: memref<3x1xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xbf16>
  %gv = dsrt.view %g : memref<3xbf16> to memref<3x1xbf16>
  %s = dsrt.alloc : memref<1x3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy : memref<5x3xbf16>) outs(%s : memref<1x3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = true}}
  %v = dsrt.view %s : memref<1x3xbf16> to memref<3x1xbf16>
  dsrt.kernel "add" ins(%gv, %v : memref<3x1xbf16>, memref<3x1xbf16>) outs(%o : memref<3x1xbf16>)
  return
}

// -----

dsrt.global @ln.weight.grad : memref<4xf32>
dsrt.global @ln.bias.grad : memref<4xf32>

// Tests that a layer_norm_grad accumulates its dx into the residual gradient and both
// parameter gradients (the adds in either operand order): the accs follow its inputs in
// the order dx, dscale, dbias; every add is gone.
// CHECK-LABEL: func.func @layer_norm_grad
//   CHECK-NOT:   dsrt.alloc
//   CHECK-DAG:   %[[BG:.+]] = dsrt.param @ln.bias.grad
//   CHECK-DAG:   %[[WG:.+]] = dsrt.param @ln.weight.grad
//   CHECK-DAG:   %[[BG2:.+]] = dsrt.param @ln.bias.grad
//   CHECK-DAG:   %[[WG2:.+]] = dsrt.param @ln.weight.grad
//       CHECK:   dsrt.kernel "layer_norm_grad" ins(%arg0, %arg1, %arg2, %arg3, %[[WG]], %[[BG]] : {{.*}}) outs(%arg4, %[[WG2]], %[[BG2]] : memref<2x4xf32>, memref<4xf32>, memref<4xf32>)
//  CHECK-NEXT:   return
func.func @layer_norm_grad(%g: memref<2x4xf32>, %x: memref<2x4xf32>, %s: memref<4xf32>, %res: memref<2x4xf32>, %out: memref<2x4xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %dx = dsrt.alloc : memref<2x4xf32>
  %ds = dsrt.alloc : memref<4xf32>
  %db = dsrt.alloc : memref<4xf32>
  dsrt.kernel "layer_norm_grad" ins(%g, %x, %s : memref<2x4xf32>, memref<2x4xf32>, memref<4xf32>) outs(%dx, %ds, %db : memref<2x4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {axis = 1 : i64, epsilon = 1.0e-05 : f32}}
  %bg = dsrt.param @ln.bias.grad : memref<4xf32>
  %bg2 = dsrt.param @ln.bias.grad : memref<4xf32>
  dsrt.kernel "add" ins(%bg, %db : memref<4xf32>, memref<4xf32>) outs(%bg2 : memref<4xf32>)
  %wg = dsrt.param @ln.weight.grad : memref<4xf32>
  %wg2 = dsrt.param @ln.weight.grad : memref<4xf32>
  dsrt.kernel "add" ins(%ds, %wg : memref<4xf32>, memref<4xf32>) outs(%wg2 : memref<4xf32>)
  dsrt.kernel "add" ins(%res, %dx : memref<2x4xf32>, memref<2x4xf32>) outs(%out : memref<2x4xf32>)
  return
}

// Tests that nothing is folded when dx is read by another kernel too (the accs start with
// dx_acc), and that a transient result of the dx add is allocated before the kernel that
// now writes it.
// CHECK-LABEL: func.func @dx_read_twice
//       CHECK:   dsrt.kernel "layer_norm_grad" ins(%arg0, %arg1, %arg2 : {{.*}})
//  CHECK-NEXT:   dsrt.param @ln.bias.grad
//  CHECK-NEXT:   dsrt.kernel "add"
//  CHECK-NEXT:   dsrt.param @ln.weight.grad
//  CHECK-NEXT:   dsrt.kernel "add"
// CHECK-LABEL: func.func @dx_into_transient
//       CHECK:   %[[SUM:.+]] = dsrt.alloc : memref<2x4xf32>
//       CHECK:   dsrt.kernel "layer_norm_grad" ins(%arg0, %arg1, %arg2, %arg3, %{{.+}}, %{{.+}} : {{.*}}) outs(%[[SUM]],
//  CHECK-NEXT:   dsrt.kernel "copy" ins(%[[SUM]]
func.func @dx_read_twice(%g: memref<2x4xf32>, %x: memref<2x4xf32>, %s: memref<4xf32>, %res: memref<2x4xf32>, %o: memref<2x4xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %dx = dsrt.alloc : memref<2x4xf32>
  %ds = dsrt.alloc : memref<4xf32>
  %db = dsrt.alloc : memref<4xf32>
  dsrt.kernel "layer_norm_grad" ins(%g, %x, %s : memref<2x4xf32>, memref<2x4xf32>, memref<4xf32>) outs(%dx, %ds, %db : memref<2x4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {axis = 1 : i64, epsilon = 1.0e-05 : f32}}
  %bg = dsrt.param @ln.bias.grad : memref<4xf32>
  dsrt.kernel "add" ins(%bg, %db : memref<4xf32>, memref<4xf32>) outs(%bg : memref<4xf32>)
  %wg = dsrt.param @ln.weight.grad : memref<4xf32>
  dsrt.kernel "add" ins(%wg, %ds : memref<4xf32>, memref<4xf32>) outs(%wg : memref<4xf32>)
  %sum = dsrt.alloc : memref<2x4xf32>
  dsrt.kernel "add" ins(%res, %dx : memref<2x4xf32>, memref<2x4xf32>) outs(%sum : memref<2x4xf32>)
  dsrt.kernel "copy" ins(%dx : memref<2x4xf32>) outs(%o : memref<2x4xf32>) on copy
  dsrt.kernel "copy" ins(%sum : memref<2x4xf32>) outs(%o : memref<2x4xf32>) on copy
  return
}
func.func @dx_into_transient(%g: memref<2x4xf32>, %x: memref<2x4xf32>, %s: memref<4xf32>, %res: memref<2x4xf32>, %o: memref<2x4xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %dx = dsrt.alloc : memref<2x4xf32>
  %ds = dsrt.alloc : memref<4xf32>
  %db = dsrt.alloc : memref<4xf32>
  dsrt.kernel "layer_norm_grad" ins(%g, %x, %s : memref<2x4xf32>, memref<2x4xf32>, memref<4xf32>) outs(%dx, %ds, %db : memref<2x4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {axis = 1 : i64, epsilon = 1.0e-05 : f32}}
  %bg = dsrt.param @ln.bias.grad : memref<4xf32>
  dsrt.kernel "add" ins(%bg, %db : memref<4xf32>, memref<4xf32>) outs(%bg : memref<4xf32>)
  %wg = dsrt.param @ln.weight.grad : memref<4xf32>
  dsrt.kernel "add" ins(%wg, %ds : memref<4xf32>, memref<4xf32>) outs(%wg : memref<4xf32>)
  %sum = dsrt.alloc : memref<2x4xf32>
  dsrt.kernel "add" ins(%res, %dx : memref<2x4xf32>, memref<2x4xf32>) outs(%sum : memref<2x4xf32>)
  dsrt.kernel "copy" ins(%sum : memref<2x4xf32>) outs(%o : memref<2x4xf32>) on copy
  return
}

// -----

dsrt.global @ln.weight.grad : memref<4xf32>
dsrt.global @ln.bias.grad : memref<4xf32>

// Tests that a layer_norm_grad takes dx_acc alone when only one of its parameter gradients
// is accumulated by an add (dscale_acc and dbias_acc come both or neither).
// CHECK-LABEL: func.func @one_of_two
//       CHECK:   dsrt.kernel "layer_norm_grad" ins(%arg0, %arg1, %arg2, %arg3 : memref<2x4xf32>, memref<2x4xf32>, memref<4xf32>, memref<2x4xf32>) outs(%arg4,
//  CHECK-NEXT:   dsrt.param @ln.weight.grad
//  CHECK-NEXT:   dsrt.kernel "add"
//       CHECK:   dsrt.kernel "copy"
func.func @one_of_two(%g: memref<2x4xf32>, %x: memref<2x4xf32>, %s: memref<4xf32>, %res: memref<2x4xf32>, %out: memref<2x4xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %dx = dsrt.alloc : memref<2x4xf32>
  %ds = dsrt.alloc : memref<4xf32>
  %db = dsrt.alloc : memref<4xf32>
  dsrt.kernel "layer_norm_grad" ins(%g, %x, %s : memref<2x4xf32>, memref<2x4xf32>, memref<4xf32>) outs(%dx, %ds, %db : memref<2x4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {axis = 1 : i64, epsilon = 1.0e-05 : f32}}
  %wg = dsrt.param @ln.weight.grad : memref<4xf32>
  dsrt.kernel "add" ins(%wg, %ds : memref<4xf32>, memref<4xf32>) outs(%wg : memref<4xf32>)
  %bg = dsrt.param @ln.bias.grad : memref<4xf32>
  dsrt.kernel "copy" ins(%db : memref<4xf32>) outs(%bg : memref<4xf32>) on copy
  dsrt.kernel "add" ins(%res, %dx : memref<2x4xf32>, memref<2x4xf32>) outs(%out : memref<2x4xf32>)
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>

// Tests that the add stays when its acc is written between the reduce and the add (the
// reduce would read the acc too early), and when the bias gradient is also read by another
// kernel.
// CHECK-LABEL: func.func @acc_written_between
//       CHECK:   dsrt.kernel "reduce_sum" ins(%arg0 : memref<5x3xf32>)
//       CHECK:   dsrt.kernel "fill"
//       CHECK:   dsrt.kernel "add"
// CHECK-LABEL: func.func @product_read_twice
//       CHECK:   dsrt.kernel "reduce_sum" ins(%arg0 : memref<5x3xf32>)
//       CHECK:   dsrt.kernel "add"
//       CHECK:   dsrt.kernel "copy"
func.func @acc_written_between(%dy: memref<5x3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy : memref<5x3xf32>) outs(%s : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "fill" outs(%g : memref<3xf32>) {attrs = {value = 0.0 : f32}}
  dsrt.kernel "add" ins(%g, %s : memref<3xf32>, memref<3xf32>) outs(%g : memref<3xf32>)
  return
}
func.func @product_read_twice(%dy: memref<5x3xf32>, %o: memref<3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy : memref<5x3xf32>) outs(%s : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "add" ins(%g, %s : memref<3xf32>, memref<3xf32>) outs(%g : memref<3xf32>)
  dsrt.kernel "copy" ins(%s : memref<3xf32>) outs(%o : memref<3xf32>) on copy
  return
}

// -----

dsrt.global @b.grad : memref<3xf32> in host

// Tests that a gradient offloaded to the host keeps its add (the host accumulates it:
// --ds-insert-transfers moves that add there, not the reduction).
// CHECK-LABEL: func.func @host_grad
//       CHECK:   dsrt.kernel "reduce_sum" ins(%arg0 : memref<5x3xf32>)
//       CHECK:   dsrt.kernel "add"
func.func @host_grad(%dy: memref<5x3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy : memref<5x3xf32>) outs(%s : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "add" ins(%g, %s : memref<3xf32>, memref<3xf32>) outs(%g : memref<3xf32>)
  return
}
