// A loss without gradient outputs (not differentiated): ds-gradcheck must refuse it.
func.func @nograd(%x: tensor<3xf64> {ds.input = "x"}) -> (tensor<f64> {ds.output = "loss"})
    attributes {ds.loss = 0 : i64} {
  %0 = ds.reduce_sum %x {axes = array<i64>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  return %0 : tensor<f64>
}
