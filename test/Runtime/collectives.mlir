// Tests that shard collectives compiled to a plan give exactly the expected buffers on
// every rank of 1, 2 and 4 MPI ranks. Rank r reads rows [2r, 2r+2) of x.npy.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/Inputs/collectives.py data %t/data 8
// RUN: for w in 1 2 4; do \
// RUN:   sed -e "s/@W@/$w/g" -e "s/@G@/$((2*w))/g" -e "s/@ROOT@/$((w-1))/g" %s \
// RUN:     | ds-opt --ds-convert-to-runtime --ds-plan-memory \
// RUN:     | ds-translate --export-dsplan -o %t/w$w.dsplan && \
// RUN:   ds-run %t/w$w.dsplan --nproc $w --data %t/data --eval --out %t/out$w --eval-all-ranks \
// RUN:   && %python %S/Inputs/collectives.py check %t/data/x.npy %t/out$w $w || exit 1; \
// RUN: done

shard.grid @world(shape = @W@)
func.func @collectives(%x: tensor<2x3xf32> {ds.input = "x"})
    -> (tensor<@G@x3xf32> {ds.output = "gathered"}, tensor<2x3xf32> {ds.output = "summed"},
        tensor<2x3xf32> {ds.output = "maxed"}, tensor<2x3xf32> {ds.output = "scattered"},
        tensor<2x3xf32> {ds.output = "broadcast"}) {
  %g = shard.all_gather %x on @world grid_axes = [0] gather_axis = 0 : tensor<2x3xf32> -> tensor<@G@x3xf32>
  %s = shard.all_reduce %x on @world grid_axes = [0] : tensor<2x3xf32> -> tensor<2x3xf32>
  %m = shard.all_reduce %x on @world grid_axes = [0] reduction = max : tensor<2x3xf32> -> tensor<2x3xf32>
  %r = shard.reduce_scatter %g on @world grid_axes = [0] scatter_axis = 0 : tensor<@G@x3xf32> -> tensor<2x3xf32>
  %b = shard.broadcast %x on @world grid_axes = [0] root = [@ROOT@] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %g, %s, %m, %r, %b : tensor<@G@x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}
