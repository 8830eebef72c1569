// Instruction-set choice of the CPU kernels' vectorised loops: AVX-512, AVX2, SSE2,
// scalar.
#pragma once

#include <string>
#include <vector>

namespace ds::rt {

/// The instruction sets this build and this processor can run, best first, from "avx512",
/// "avx2" (with F16C and FMA), "sse2" (x86-64) and "scalar" (always; last).
std::vector<std::string> supportedCpuIsas();

/// The instruction set the vectorised loops use: DS_CPU_ISA when set (an unsupported
/// value is an Error naming it), else the best supported one.
std::string cpuIsa();

/// Forces `isa` for the rest of the process (tests, benchmarks); throws ds::rt::Error
/// when this build or processor cannot run it.
void setCpuIsa(const std::string &isa);

} // namespace ds::rt
