// Instruction-set detection (cpuid through __builtin_cpu_supports) and the DS_CPU_ISA
// override.
#include "ds/runtime/CpuIsa.h"

#include "ds/runtime/Error.h"

#include <cstdlib>
#include <mutex>

namespace ds::rt {
namespace {

bool processorRuns(const std::string &isa) {
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
  __builtin_cpu_init();
  if (isa == "avx512") // every AVX-512 processor has FMA and F16C
    return __builtin_cpu_supports("avx512f");
  if (isa == "avx2")
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("fma");
  if (isa == "sse2")
    return true; // x86-64's baseline
#endif
  return isa == "scalar";
}

std::string joined(const std::vector<std::string> &names) {
  std::string s;
  for (const std::string &n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::mutex gMutex;
std::string gIsa; // empty until chosen

void checkSupported(const std::string &isa, const std::string &origin) {
  std::vector<std::string> ok = supportedCpuIsas();
  for (const std::string &s : ok)
    if (s == isa)
      return;
  fail(origin, "instruction set '", isa,
       "' is not available on this build and processor (", joined(ok), ")");
}

} // namespace

std::vector<std::string> supportedCpuIsas() {
  std::vector<std::string> out;
  for (const char *isa : {"avx512", "avx2", "sse2", "scalar"})
    if (processorRuns(isa))
      out.push_back(isa);
  return out;
}

std::string cpuIsa() {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gIsa.empty()) {
    const char *env = std::getenv("DS_CPU_ISA");
    if (env && *env) {
      checkSupported(env, "DS_CPU_ISA: ");
      gIsa = env;
    } else {
      gIsa = supportedCpuIsas().front();
    }
  }
  return gIsa;
}

void setCpuIsa(const std::string &isa) {
  checkSupported(isa, "");
  std::lock_guard<std::mutex> lock(gMutex);
  gIsa = isa;
}

} // namespace ds::rt
