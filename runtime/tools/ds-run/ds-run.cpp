// ds-run: executes a .dsplan on one rank per process (MPI) with the CPU backend.
#include "ds/runtime/Communicator.h"
#include "ds/runtime/CudaBackend.h"
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/Npy.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Plan.h"
#include "ds/runtime/ThreadPool.h"

#include <cblas.h>
#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace ds::rt;
using ds::plan::Program;

namespace {

const char *kUsage =
    "usage: ds-run PLAN.dsplan [--nproc N] [--data DIR | --synthetic] [--steps N]\n"
    "              [--metrics FILE.json] [--eval --out DIR [--eval-all-ranks] [--whole-inputs]]\n"
    "              [--save-params DIR] [--seed N] [--threads N]\n"
    "              [--backend auto|cpu|cuda] [--comm auto|nccl|host] [--no-graphs] [--tf32]\n"
    "              [--verify-kernels] [--model FILE.onnx]\n"
    "       ds-run --backend-info\n";

struct Options {
  std::string plan;
  int nproc = 0;
  std::string data;
  bool synthetic = false;
  int steps = 1;
  std::string metrics;
  bool eval = false;
  bool evalAllRanks = false; // every rank writes OUT/rank<r>/<output>.npy
  bool wholeInputs = false;  // each input file holds exactly the input buffer
  std::string out;
  std::string saveParams; // rank 0 writes every parameter as DIR/<file name>.npy at the end
  uint64_t seed = 0;
  int threads = 0;
  std::string backend = "auto"; // auto: cuda when the plugin loads and a GPU is visible
  CudaOptions cuda;
  bool verifyKernels = false; // run every instruction on the CPU too and compare outputs
  std::string model; // read parameters from this ONNX file instead of the plan's model_file
};

int gRank = -1; // for message prefixes; -1 before the world is known
int gWorld = 1;

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "ds-run: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

int64_t parseInt(const std::string &flag, const char *v, int64_t lo, int64_t hi) {
  char *end = nullptr;
  errno = 0;
  long long x = std::strtoll(v, &end, 10);
  if (errno || !end || *end || end == v || x < lo || x > hi)
    usageError(flag + " expects an integer in [" + std::to_string(lo) + ", " +
               std::to_string(hi) + "], got '" + v + "'");
  return x;
}

Options parseArgs(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    bool inlineVal = false;
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
      inlineVal = true;
    }
    auto next = [&]() -> const char * {
      if (inlineVal)
        return argv[i] + (eq + 1);
      if (i + 1 >= argc)
        usageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--backend-info") {
      std::string why;
      bool ok = loadCudaBackend(why);
      int n = ok ? cudaDeviceCount() : 0;
      std::printf("cpu: available\ncuda: %s\n",
                  !ok ? ("unavailable (" + why + ")").c_str()
                      : n == 0 ? "unavailable (plugin loaded, no CUDA device visible)"
                               : (std::to_string(n) + " device(s)").c_str());
      std::exit(0);
    }
    if (a == "--nproc")
      o.nproc = int(parseInt(a, next(), 1, 4096));
    else if (a == "--data")
      o.data = next();
    else if (a == "--synthetic")
      o.synthetic = true;
    else if (a == "--steps")
      o.steps = int(parseInt(a, next(), 0, INT32_MAX));
    else if (a == "--metrics")
      o.metrics = next();
    else if (a == "--eval")
      o.eval = true;
    else if (a == "--eval-all-ranks")
      o.evalAllRanks = true;
    else if (a == "--whole-inputs")
      o.wholeInputs = true;
    else if (a == "--out")
      o.out = next();
    else if (a == "--save-params") {
      o.saveParams = next();
      if (o.saveParams.empty())
        usageError("--save-params needs a directory");
    }
    else if (a == "--seed")
      o.seed = uint64_t(parseInt(a, next(), 0, INT64_MAX));
    else if (a == "--threads")
      o.threads = int(parseInt(a, next(), 1, 1024));
    else if (a == "--backend") {
      o.backend = next();
      if (o.backend != "auto" && o.backend != "cpu" && o.backend != "cuda")
        usageError("--backend expects auto, cpu or cuda, got '" + o.backend + "'");
    } else if (a == "--comm") {
      o.cuda.comm = next();
      if (o.cuda.comm != "auto" && o.cuda.comm != "nccl" && o.cuda.comm != "host")
        usageError("--comm expects auto, nccl or host, got '" + o.cuda.comm + "'");
    } else if (a == "--no-graphs")
      o.cuda.graphs = false;
    else if (a == "--tf32")
      o.cuda.tf32 = true;
    else if (a == "--verify-kernels")
      o.verifyKernels = true;
    else if (a == "--model") {
      o.model = next();
      if (o.model.empty())
        usageError("--model needs a file");
    }
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a.rfind("-", 0) == 0)
      usageError("unknown option " + a);
    else if (o.plan.empty())
      o.plan = a;
    else
      usageError("more than one plan file given");
  }
  if (o.plan.empty())
    usageError("no plan file given");
  if (!o.data.empty() && o.synthetic)
    usageError("--data and --synthetic exclude each other");
  if (o.eval && o.out.empty())
    usageError("--eval needs --out DIR");
  if (!o.out.empty() && !o.eval)
    usageError("--out is only used with --eval");
  if (o.evalAllRanks && !o.eval)
    usageError("--eval-all-ranks is only used with --eval");
  if (o.wholeInputs && !o.eval)
    usageError("--whole-inputs is only used with --eval");
  if (o.wholeInputs && o.synthetic)
    usageError("--whole-inputs reads --data DIR; it excludes --synthetic");
  return o;
}

// Runs this binary under mpirun with N ranks and exits with mpirun's status.
[[noreturn]] void relaunch(int argc, char **argv, int nproc) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    fail("cannot locate the ds-run executable to relaunch under mpirun");
  self[n] = '\0';
  std::vector<std::string> args = {"mpirun", "-np", std::to_string(nproc)};
  if (geteuid() == 0)
    args.push_back("--allow-run-as-root");
  if (unsigned(nproc) > std::max(1u, std::thread::hardware_concurrency()))
    args.push_back("--oversubscribe");
  for (const char *s : {"--bind-to", "none", "--mca", "btl", "self,vader", "--mca",
                        "btl_vader_single_copy_mechanism", "none", "--quiet"})
    args.push_back(s);
  args.push_back(self);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nproc") {
      ++i;
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0)
      continue;
    args.push_back(a);
  }
  // Ranks report their own errors; keep mpirun's help banners short.
  setenv("OMPI_MCA_orte_base_help_aggregate", "1", 1);
  // mpirun gives the ranks a pty: tell them whether the real stdout is a terminal.
  setenv("DS_RUN_STDOUT_TTY", isatty(STDOUT_FILENO) ? "1" : "0", 1);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", nproc > 1 ? "1" : "0", 0);
  // OpenMPI derives its session directory from the launcher's pid: two jobs started at
  // the same moment (parallel tests) can collide there ("ORTE_ERROR_LOG ... session_dir").
  // Give every launch a private base directory, removed when the job ends.
  std::string tmpl = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                     "/ds-run-XXXXXX";
  std::vector<char> dir(tmpl.begin(), tmpl.end());
  dir.push_back('\0');
  if (!mkdtemp(dir.data()))
    fail("cannot create a session directory under ", tmpl, ": ", std::strerror(errno));
  setenv("OMPI_MCA_orte_tmpdir_base", dir.data(), 1);
  std::vector<char *> cargs;
  for (auto &s : args)
    cargs.push_back(s.data());
  cargs.push_back(nullptr);
  pid_t child = fork();
  if (child < 0)
    fail("cannot start mpirun: ", std::strerror(errno));
  if (child == 0) {
    execvp("mpirun", cargs.data());
    std::fprintf(stderr, "ds-run: cannot run mpirun: %s (install openmpi-bin)\n",
                 std::strerror(errno));
    _exit(127);
  }
  // mpirun shares our terminal and process group: it gets ^C itself.
  signal(SIGINT, SIG_IGN);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::error_code ec;
  std::filesystem::remove_all(dir.data(), ec);
  std::exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

std::string prefix() {
  return gRank < 0 ? "ds-run: " : "ds-run: rank " + std::to_string(gRank) + ": ";
}

void info(const std::string &msg) {
  std::printf("%s\n", msg.c_str());
  std::fflush(stdout);
}

double readScalar(ExecutorBase &exec, uint32_t id) {
  const BufferInfo &b = exec.plan().buffer(id);
  std::vector<char> bytes(std::max<size_t>(size_t(b.type.bytes), 8));
  exec.download(id, bytes.data());
  const char *p = bytes.data();
  switch (b.type.dtype) {
  case ds::plan::F32: return reinterpret_cast<const float *>(p)[0];
  case ds::plan::F64: return reinterpret_cast<const double *>(p)[0];
  case ds::plan::F16: return halfToFloat(reinterpret_cast<const uint16_t *>(p)[0]);
  default: return bf16ToFloat(reinterpret_cast<const uint16_t *>(p)[0]);
  }
}

/// A host copy of buffer `id` (download when `fetch`) as a Tensor over `store`.
Tensor hostTensor(ExecutorBase &exec, uint32_t id, std::vector<char> &store, bool fetch) {
  const BufferInfo &b = exec.plan().buffer(id);
  store.resize(std::max<size_t>(size_t(b.type.bytes), 1));
  if (fetch)
    exec.download(id, store.data());
  return Tensor{b.type.dtype, &b.type.shape, b.type.numel, store.data()};
}

void mkdirs(const std::string &dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty())
      continue;
    if (mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      fail("cannot create directory ", cur, ": ", std::strerror(errno));
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(dir, " is not a directory");
}

/// Feeds graph inputs from .npy files or a synthetic generator.
class InputFeeder {
public:
  InputFeeder(const LoadedPlan &plan, ExecutorBase &exec, const Options &opt, int rank, int world)
      : plan_(plan), exec_(exec), opt_(opt), rank_(rank), world_(world) {
    mb_ = plan.microBatch;
    for (const auto &in : plan.plan.inputs()) {
      if (opt.synthetic)
        continue;
      std::string path = opt.data + "/" + in.name() + ".npy";
      struct stat st;
      if (stat(path.c_str(), &st) != 0)
        fail("input '", in.name(), "': ", path, " does not exist");
      NpyFile f = openNpy(path);
      const auto &b = plan.buffer(in.buffer());
      if (f.dtype != b.type.dtype)
        fail(path, ": dtype ", dtypeName(f.dtype), " does not match input '", in.name(),
             "' of type ", dtypeName(b.type.dtype));
      std::vector<int64_t> sample = b.type.shape;
      sample.erase(sample.begin() + in.batch_dim());
      if (f.shape.empty() ||
          std::vector<int64_t>(f.shape.begin() + 1, f.shape.end()) != sample)
        fail(path, ": shape ", shapeString(f.shape), " does not match input '", in.name(),
             "': expected [samples,", shapeString(sample).substr(1));
      if (!files_.empty() && f.shape[0] != files_[0].shape[0])
        fail(path, ": ", f.shape[0], " samples, but ", files_[0].path, " has ",
             files_[0].shape[0]);
      files_.push_back(std::move(f));
    }
  }

  int64_t samples() const { return files_.empty() ? 0 : files_[0].shape[0]; }

  /// Requires at least `n` samples (one global batch).
  void requireSamples(int64_t n) const {
    if (!opt_.synthetic && !files_.empty() && samples() < n)
      fail(opt_.data, ": the data has ", samples(), " samples, fewer than one global batch of ",
           n, " (micro-batch ", mb_, " x accumulation ", plan_.accumulationSteps, " x world ",
           world_, ")");
  }

  /// Fills every input with samples [first, first + mb) (mod the sample count).
  void feed(int64_t first, uint64_t stream) {
    const auto &inputs = plan_.plan.inputs();
    for (int k = 0; k < inputs.size(); ++k) {
      const auto &in = inputs[k];
      Tensor t = hostTensor(exec_, in.buffer(), host_, /*fetch=*/false);
      if (opt_.synthetic) {
        synthesize(in, t, stream * 1000003ull + uint64_t(k));
        exec_.upload(in.buffer(), t.data);
        continue;
      }
      const NpyFile &f = files_[size_t(k)];
      size_t es = dtypeSize(t.dtype);
      int64_t rowElems = f.rowElems();
      size_t row = size_t(rowElems) * es;
      bool direct = in.batch_dim() == 0;
      staging_.resize(direct ? 0 : row * size_t(mb_));
      char *dst = direct ? static_cast<char *>(t.data) : staging_.data();
      int64_t n = f.shape[0];
      int64_t done = 0;
      while (done < mb_) { // contiguous runs, wrapping around the file (epochs)
        int64_t s = (first + done) % n;
        int64_t cnt = std::min<int64_t>(mb_ - done, n - s);
        readNpyRows(f, s, cnt, dst + size_t(done) * row);
        done += cnt;
      }
      if (!direct) { // [mb, outer, inner] -> [outer, mb, inner]
        int64_t outer = 1;
        for (uint32_t d = 0; d < in.batch_dim(); ++d)
          outer *= t.dim(d);
        size_t innerBytes = row / size_t(outer);
        for (int64_t b = 0; b < mb_; ++b)
          for (int64_t o = 0; o < outer; ++o)
            std::memcpy(static_cast<char *>(t.data) + (size_t(o * mb_ + b)) * innerBytes,
                        staging_.data() + (size_t(b * outer + o)) * innerBytes, innerBytes);
      }
      exec_.upload(in.buffer(), t.data);
    }
  }

private:
  void synthesize(const ds::plan::GraphInput &in, const Tensor &t, uint64_t stream) {
    std::mt19937_64 rng(opt_.seed * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull +
                        uint64_t(rank_));
    bool fl = isFloat(t.dtype);
    double lo = in.has_synthetic_low() ? in.synthetic_low() : fl ? -1.0 : 0.0;
    double hi = in.has_synthetic_high() ? in.synthetic_high() : fl ? 1.0 : 2.0;
    std::uniform_real_distribution<double> u(lo, hi);
    for (int64_t i = 0; i < t.numel; ++i) {
      double v = u(rng);
      switch (t.dtype) {
      case ds::plan::F32: t.as<float>()[i] = float(v); break;
      case ds::plan::F64: t.as<double>()[i] = v; break;
      case ds::plan::F16: t.as<uint16_t>()[i] = floatToHalf(float(v)); break;
      case ds::plan::BF16: t.as<uint16_t>()[i] = floatToBf16(float(v)); break;
      case ds::plan::I64: t.as<int64_t>()[i] = std::min(int64_t(std::floor(v)), int64_t(std::ceil(hi)) - 1); break;
      case ds::plan::I32: t.as<int32_t>()[i] = int32_t(std::min(std::floor(v), std::ceil(hi) - 1)); break;
      default: t.as<uint8_t>()[i] = std::floor(v) != 0; break;
      }
    }
  }

  const LoadedPlan &plan_;
  ExecutorBase &exec_;
  const Options &opt_;
  int rank_, world_;
  int64_t mb_;
  std::vector<NpyFile> files_;
  std::vector<char> staging_, host_;
};

std::string jsonNumber(double v) {
  if (!std::isfinite(v))
    return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

template <typename T> std::string jsonList(const std::vector<T> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + jsonNumber(double(v[i]));
  return s + "]";
}

void progress(int done, int total) {
  const int width = 30;
  int fill = total ? done * width / total : width;
  std::fprintf(stderr, "\r[%s%s] %d/%d", std::string(size_t(fill), '#').c_str(),
               std::string(size_t(width - fill), ' ').c_str(), done, total);
  if (done == total)
    std::fputc('\n', stderr);
  std::fflush(stderr);
}

/// --whole-inputs: the plan's graph inputs are taken out of the plan before validation (they
/// need not share a batch dimension, and may be 0-d) and fed whole from <data>/<name>.npy.
LoadedPlan loadPlanWithoutInputs(const std::string &path, int world,
                                 std::vector<ds::plan::GraphInput> &inputs) {
  std::string bytes;
  {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
      fail(path, ": cannot open plan file: ", std::strerror(errno));
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
      bytes.append(buf, n);
    std::fclose(f);
  }
  ds::plan::Plan p;
  if (bytes.size() < sizeof(kPlanMagic) ||
      std::memcmp(bytes.data(), kPlanMagic, sizeof(kPlanMagic)) != 0 ||
      !p.ParseFromArray(bytes.data() + sizeof(kPlanMagic), int(bytes.size() - sizeof(kPlanMagic))))
    return parsePlan(bytes, path, world); // reports the problem as the loader words it
  inputs.assign(p.inputs().begin(), p.inputs().end());
  p.clear_inputs();
  LoadedPlan lp;
  lp.path = path;
  lp.plan = std::move(p);
  try {
    validatePlan(lp, world);
    std::set<std::string> names;
    for (const auto &in : inputs) {
      std::string what = "input '" + in.name() + "'";
      if (in.name().empty() || in.name().find('/') != std::string::npos)
        fail(what, ": not a valid file name");
      if (!names.insert(in.name()).second)
        fail(what, ": duplicate input name");
      if (!lp.bufferIndex.count(in.buffer()))
        fail(what, ": unknown buffer ", in.buffer());
    }
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  return lp;
}

/// Reads <data>/<name>.npy, whose dtype and shape must be exactly the input buffer's, into it.
void feedWholeInputs(const std::vector<ds::plan::GraphInput> &inputs, ExecutorBase &exec,
                     const std::string &dir, bool doRead) {
  std::vector<char> store;
  for (const auto &in : inputs) {
    std::string path = dir + "/" + in.name() + ".npy";
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
      fail("input '", in.name(), "': ", path, " does not exist");
    NpyFile f = openNpy(path);
    Tensor t = hostTensor(exec, in.buffer(), store, /*fetch=*/false);
    if (f.dtype != t.dtype)
      fail(path, ": dtype ", dtypeName(f.dtype), " does not match input '", in.name(),
           "' of type ", dtypeName(t.dtype));
    if (f.shape != *t.shape)
      fail(path, ": shape ", shapeString(f.shape), " does not match input '", in.name(),
           "' of shape ", shapeString(*t.shape), " (--whole-inputs reads the file whole)");
    if (!doRead || t.numel == 0)
      continue;
    NpyFile rows = f; // one row holding everything (also for 0-d files)
    rows.shape = {1, t.numel};
    readNpyRows(rows, 0, 1, t.data);
    exec.upload(in.buffer(), t.data);
  }
}

/// The file name (without ".npy") --save-params uses for an initializer: '/' becomes "__",
/// every other byte is kept. Names that cannot be file names are errors.
std::string paramFileName(const std::string &init) {
  if (init.empty())
    fail("--save-params: a parameter has an empty initializer name");
  if (init.find('\0') != std::string::npos)
    fail("--save-params: initializer name with a NUL byte cannot be a file name");
  std::string f;
  for (char c : init) {
    if (c == '/')
      f += "__";
    else
      f += c;
  }
  if (f.size() + 4 > 255)
    fail("--save-params: initializer '", init, "' maps to a file name longer than 255 bytes");
  return f;
}

/// One parameter --save-params writes (plan order; an initializer bound twice is written once).
struct SavedParam {
  std::string initializer;
  std::string file; // DIR/<name>.npy
  uint32_t buffer;
  bool flat;
  std::vector<int64_t> dims; // the ONNX shape (filled on rank 0)
};

/// The initializer shapes of the plan's model.
std::map<std::string, std::vector<int64_t>> onnxInitializerDims(const std::string &path) {
  onnx::ModelProto model;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0)
    fail(path, ": cannot open model file: ", std::strerror(errno));
  {
    google::protobuf::io::FileInputStream raw(fd);
    raw.SetCloseOnDelete(true);
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(INT_MAX);
    if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
      fail(path, ": not a valid ONNX model (protobuf decoding failed)");
  }
  std::map<std::string, std::vector<int64_t>> dims;
  for (const auto &t : model.graph().initializer())
    dims[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
  return dims;
}

/// Setup for --save-params: the list of parameters to write; rank 0 also creates DIR, maps
/// names to files (collisions are errors) and reads the full shapes of FLAT_1D shards.
std::vector<SavedParam> prepareSaveParams(const LoadedPlan &plan, const std::string &dir,
                                          int rank) {
  std::vector<SavedParam> out;
  std::set<std::string> seen;
  std::map<std::string, std::string> fileOwner;
  bool anyFlat = false;
  for (const auto &p : plan.plan.parameters()) {
    if (!seen.insert(p.initializer()).second)
      continue;
    SavedParam s;
    s.initializer = p.initializer();
    s.buffer = p.buffer();
    s.flat = p.shard().kind() == ds::plan::ShardSpec::FLAT_1D;
    anyFlat |= s.flat;
    if (rank == 0) {
      std::string f = paramFileName(p.initializer());
      auto [it, fresh] = fileOwner.emplace(f, p.initializer());
      if (!fresh)
        fail("--save-params: initializers '", it->second, "' and '", p.initializer(),
             "' map to the same file ", f, ".npy");
      s.file = dir + "/" + f + ".npy";
      if (!s.flat)
        s.dims = plan.buffer(p.buffer()).type.shape;
    }
    out.push_back(std::move(s));
  }
  if (rank == 0) {
    if (anyFlat) {
      auto dims = onnxInitializerDims(plan.modelPath);
      for (auto &s : out) {
        if (!s.flat)
          continue;
        auto it = dims.find(s.initializer);
        if (it == dims.end())
          fail(plan.modelPath, ": no initializer '", s.initializer, "'");
        s.dims = it->second;
      }
    }
    mkdirs(dir);
  }
  return out;
}

/// Writes every parameter (FLAT_1D shards all-gathered, padding dropped); collective.
void saveParams(const std::vector<SavedParam> &params, const std::string &dir,
                ExecutorBase &exec, Communicator &comm) {
  int rank = comm.rank(), world = comm.size();
  std::vector<char> gathered, store;
  for (const auto &s : params) {
    Tensor t = hostTensor(exec, s.buffer, store, /*fetch=*/true);
    const void *data = t.data;
    if (s.flat) {
      size_t es = dtypeSize(t.dtype);
      gathered.resize(size_t(t.numel) * es * size_t(world));
      comm.allGather(t.data, gathered.data(), t.numel, t.dtype);
      data = gathered.data();
    }
    if (rank == 0)
      writeNpy(s.file, t.dtype, s.dims, data); // the first numel(dims) elements: no padding
  }
  if (rank == 0)
    info("ds-run: wrote " + std::to_string(params.size()) + " parameters to " + dir);
}

/// The executor --backend asks for (auto: CUDA when its plugin loads and a GPU is visible).
std::unique_ptr<ExecutorBase> makeExecutor(const LoadedPlan &plan, Communicator &comm,
                                           const Options &opt) {
  std::string backend = opt.backend;
  if (const char *e = std::getenv("DS_RUN_BACKEND"); e && *e && backend == "auto")
    backend = e;
  if (backend == "auto")
    backend = cudaDeviceCount() > 0 ? "cuda" : "cpu";
  if (backend == "cpu")
    return std::make_unique<CpuExecutor>(plan, comm);
  std::string why;
  if (!loadCudaBackend(why))
    fail("--backend cuda: ", why);
  if (cudaDeviceCount() == 0)
    fail("--backend cuda: no CUDA device is visible (driver missing or no GPU)");
  return makeCudaExecutor(plan, comm, opt.cuda);
}

/// --verify-kernels: runs each instruction on the device backend and on the CPU from the same
/// inputs (the device's), compares every output, reports mismatches by instruction and feeds
/// the CPU's result back to the device so one wrong kernel does not hide the others.
class KernelVerifier {
public:
  KernelVerifier(ExecutorBase &dev, CpuExecutor *cpu, int rank) : dev_(dev), cpu_(cpu), rank_(rank) {}
  int64_t mismatches() const { return mismatches_; }
  int64_t checked() const { return checked_; }

  void run(int p) {
    const LoadedPlan &plan = dev_.plan();
    const auto &prog = plan.plan.programs(p);
    for (int k = 0; k < prog.instructions_size(); ++k) {
      const auto &ins = prog.instructions(k);
      std::vector<uint32_t> inIds, outIds;
      for (size_t b : plan.instrInputs[size_t(p)][size_t(k)])
        inIds.push_back(plan.plan.buffers(int(b)).id());
      for (size_t b : plan.instrOutputs[size_t(p)][size_t(k)])
        outIds.push_back(plan.plan.buffers(int(b)).id());
      for (const auto *ids : {&inIds, &outIds})
        for (uint32_t id : *ids) {
          Tensor t = hostTensor(dev_, id, a_, true);
          cpu_->upload(id, t.data);
        }
      std::string devError;
      try {
        dev_.runInstruction(p, k);
      } catch (const Error &e) {
        devError = e.what();
      }
      cpu_->runInstruction(p, k);
      ++checked_;
      if (!devError.empty()) {
        ++mismatches_;
        std::fprintf(stderr, "ds-run: rank %d: verify: %s\n", rank_, devError.c_str());
        for (uint32_t id : outIds) {
          Tensor c = hostTensor(*cpu_, id, b_, true);
          dev_.upload(id, c.data);
        }
        continue;
      }
      for (uint32_t id : outIds) {
        Tensor d = hostTensor(dev_, id, a_, true);
        Tensor c = hostTensor(*cpu_, id, b_, true);
        std::string why = compare(d, c);
        if (why.empty())
          continue;
        ++mismatches_;
        if (++reported_[ins.kernel()] <= 3)
          std::fprintf(stderr, "ds-run: rank %d: verify: program '%s' instruction %d (%s%s): %s\n",
                       rank_, prog.name().c_str(), k, ins.kernel().c_str(),
                       ins.loc().empty() ? "" : (" at " + ins.loc()).c_str(), why.c_str());
        dev_.upload(id, c.data);
      }
    }
  }

private:
  static double get(const Tensor &t, int64_t i) {
    switch (t.dtype) {
    case ds::plan::F32: return t.as<float>()[i];
    case ds::plan::F64: return t.as<double>()[i];
    case ds::plan::F16: return halfToFloat(t.as<uint16_t>()[i]);
    case ds::plan::BF16: return bf16ToFloat(t.as<uint16_t>()[i]);
    case ds::plan::I64: return double(t.as<int64_t>()[i]);
    case ds::plan::I32: return t.as<int32_t>()[i];
    default: return t.as<uint8_t>()[i];
    }
  }
  // Floats: max |d - c| over max |c| (with a floor) within a dtype tolerance; NaN and inf must
  // agree in place. Integers and booleans: exact.
  static std::string compare(const Tensor &d, const Tensor &c) {
    double tol = 0;
    switch (d.dtype) {
    case ds::plan::F32: tol = 2e-4; break;
    case ds::plan::F64: tol = 1e-9; break;
    case ds::plan::F16: tol = 2e-3; break;
    case ds::plan::BF16: tol = 1.6e-2; break;
    default: tol = 0;
    }
    double maxAbs = 0, maxErr = 0;
    int64_t worst = -1, exactBad = 0;
    for (int64_t i = 0; i < c.numel; ++i) {
      double x = get(d, i), y = get(c, i);
      if (!std::isfinite(x) || !std::isfinite(y)) {
        if (!(std::isnan(x) && std::isnan(y)) && x != y) {
          ++exactBad;
          if (worst < 0)
            worst = i;
        }
        continue;
      }
      maxAbs = std::max(maxAbs, std::fabs(y));
      double e = std::fabs(x - y);
      if (tol == 0 && e != 0) {
        ++exactBad;
        if (worst < 0)
          worst = i;
      }
      if (tol > 0 && e > maxErr) {
        maxErr = e;
        worst = i;
      }
    }
    bool bad = exactBad > 0 || (tol > 0 && maxErr > tol * std::max(maxAbs, 1e-6));
    if (!bad)
      return "";
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  "%s %s: max error %.3g (max |cpu| %.3g), %lld mismatching exact/special "
                  "values; at element %lld device %.6g cpu %.6g",
                  dtypeName(d.dtype).c_str(), shapeString(*d.shape).c_str(), maxErr, maxAbs,
                  (long long)exactBad, (long long)worst, worst >= 0 ? get(d, worst) : 0.0,
                  worst >= 0 ? get(c, worst) : 0.0);
    return buf;
  }

  ExecutorBase &dev_;
  CpuExecutor *cpu_;
  int rank_;
  int64_t mismatches_ = 0, checked_ = 0;
  std::map<std::string, int> reported_;
  std::vector<char> a_, b_;
};

/// A failure during setup (before any collective): every rank learns whether some rank failed.
struct SetupFailed {
  std::string message; // empty on ranks that did not fail themselves
};

int runJob(const Options &opt, Communicator &comm) {
  int rank = comm.rank(), world = comm.size();
  // Setup runs no collectives, so ranks can fail independently (a missing shard file on one
  // node); they agree on the outcome below so every failing rank reports and all exit cleanly.
  std::unique_ptr<LoadedPlan> planPtr;
  std::unique_ptr<ExecutorBase> execPtr;
  std::unique_ptr<CpuExecutor> cpuCheckPtr; // --verify-kernels: the CPU executor compared against
  std::unique_ptr<InputFeeder> feederPtr;
  std::vector<ds::plan::GraphInput> wholeInputs;
  std::vector<SavedParam> savedParams;
  std::string setupError;
  try {
    planPtr = std::make_unique<LoadedPlan>(
        opt.wholeInputs ? loadPlanWithoutInputs(opt.plan, world, wholeInputs)
                        : loadPlan(opt.plan, world));
    if (!opt.model.empty())
      planPtr->modelPath = opt.model;
    const LoadedPlan &plan = *planPtr;
    if (opt.threads)
      setNumThreads(opt.threads);
    openblas_set_num_threads(numThreads());
    execPtr = makeExecutor(plan, comm, opt);
    if (opt.verifyKernels) {
      if (execPtr->describe() == "cpu")
        fail("--verify-kernels compares a device backend with the CPU: use --backend cuda");
      cpuCheckPtr = std::make_unique<CpuExecutor>(plan, comm);
    }
    if (rank == 0 && execPtr->describe() != "cpu")
      info("ds-run: backend " + execPtr->describe());
    loadParameters(plan, *execPtr, rank, world);
    if (plan.plan.inputs_size() > 0 && opt.data.empty() && !opt.synthetic)
      fail("the plan has ", plan.plan.inputs_size(),
           " graph inputs: give --data DIR or --synthetic");
    if (!wholeInputs.empty() && opt.data.empty())
      fail("the plan has ", wholeInputs.size(), " graph inputs: --whole-inputs needs --data DIR");
    feedWholeInputs(wholeInputs, *execPtr, opt.data, /*doRead=*/false); // check files early
    feederPtr = std::make_unique<InputFeeder>(plan, *execPtr, opt, rank, world);
    if (!opt.saveParams.empty())
      savedParams = prepareSaveParams(plan, opt.saveParams, rank);
    if (opt.eval) {
      if (plan.program(Program::INFERENCE) < 0)
        fail("--eval: the plan has no INFERENCE program");
      feederPtr->requireSamples(int64_t(plan.microBatch) * world);
    } else {
      bool micro = plan.program(Program::MICRO_STEP) >= 0;
      if (!micro && plan.program(Program::INFERENCE) < 0)
        fail("the plan has neither a MICRO_STEP nor an INFERENCE program");
      feederPtr->requireSamples(int64_t(plan.microBatch) * (micro ? plan.accumulationSteps : 1) *
                                world);
    }
  } catch (const std::exception &e) {
    setupError = e.what();
    if (setupError.empty())
      setupError = "setup failed";
  }
  int32_t failed = setupError.empty() ? 0 : 1;
  comm.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
  if (failed)
    throw SetupFailed{setupError};
  const LoadedPlan &plan = *planPtr;
  ExecutorBase &exec = *execPtr;
  InputFeeder &feeder = *feederPtr;
  bool needInputs = plan.plan.inputs_size() > 0;
  int64_t mb = plan.microBatch;
  KernelVerifier verifier(exec, cpuCheckPtr.get(), rank);
  auto runProgram = [&](int p) {
    if (cpuCheckPtr)
      verifier.run(p);
    else
      exec.run(p);
  };
  if (plan.program(Program::INIT) >= 0)
    runProgram(plan.program(Program::INIT));

  std::vector<double> losses;
  std::vector<double> lossScales; // the scale each step's backward pass used (fp16)
  std::vector<double> msPerStep;
  double samplesPerSec = 0;
  if (opt.eval) {
    int p = plan.program(Program::INFERENCE);
    if (p < 0)
      fail("--eval: the plan has no INFERENCE program");
    feeder.requireSamples(mb * world);
    if (needInputs)
      feeder.feed(int64_t(rank) * mb, 0);
    feedWholeInputs(wholeInputs, exec, opt.data, /*doRead=*/true);
    runProgram(p);
    auto writeOutputs = [&](const std::string &dir) {
      mkdirs(dir);
      for (const auto &o : plan.plan.outputs()) {
        if (o.name().empty() || o.name().find('/') != std::string::npos || o.name() == "." ||
            o.name() == "..")
          fail("output name '", o.name(), "' cannot be a file name");
        std::vector<char> store;
        Tensor t = hostTensor(exec, o.buffer(), store, /*fetch=*/true);
        writeNpy(dir + "/" + o.name() + ".npy", t.dtype, *t.shape, t.data);
      }
    };
    if (rank == 0)
      writeOutputs(opt.out);
    if (opt.evalAllRanks)
      writeOutputs(opt.out + "/rank" + std::to_string(rank));
    if (rank == 0)
      info("ds-run: wrote " + std::to_string(plan.plan.outputs_size()) + " outputs to " +
           opt.out + (opt.evalAllRanks ? " (and " + std::to_string(world) + " rank dirs)" : ""));
  } else {
    int micro = plan.program(Program::MICRO_STEP);
    int apply = plan.program(Program::APPLY_STEP);
    int accum = plan.accumulationSteps;
    if (micro < 0) { // inference-only plan: run it as the step
      micro = plan.program(Program::INFERENCE);
      accum = 1;
      if (micro < 0)
        fail("the plan has neither a MICRO_STEP nor an INFERENCE program");
    }
    int64_t perRank = mb * accum, global = perRank * world;
    feeder.requireSamples(global);
    const ds::plan::GraphOutput *lossOut =
        plan.plan.has_loss_output() && plan.plan.loss_output() >= 0
            ? &plan.plan.outputs(plan.plan.loss_output())
            : nullptr;
    const char *tty = std::getenv("DS_RUN_STDOUT_TTY");
    bool bar = rank == 0 && (tty ? std::strcmp(tty, "1") == 0
                                 : isatty(STDOUT_FILENO) && !launchedByMpi());
    double totalSec = 0;
    for (int s = 0; s < opt.steps; ++s) {
      auto t0 = std::chrono::steady_clock::now();
      double lossSum = 0;
      for (int m = 0; m < accum; ++m) {
        if (needInputs)
          feeder.feed(int64_t(s) * global + int64_t(rank) * perRank + int64_t(m) * mb,
                      uint64_t(s) * uint64_t(accum) + uint64_t(m));
        runProgram(micro);
        if (lossOut)
          lossSum += readScalar(exec, lossOut->buffer());
      }
      if (plan.plan.has_loss_scale_buffer())
        lossScales.push_back(readScalar(exec, plan.plan.loss_scale_buffer()));
      if (apply >= 0)
        runProgram(apply);
      double loss = lossSum / accum;
      if (lossOut) {
        comm.allReduce(&loss, &loss, 1, ds::plan::F64, ReduceOp::Sum);
        loss /= world;
        losses.push_back(loss);
      }
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      totalSec += sec;
      msPerStep.push_back(sec * 1e3);
      if (rank == 0) {
        if (bar)
          std::fputs("\r\033[K", stderr);
        char line[256];
        std::snprintf(line, sizeof(line),
                      "step %d  loss %s  samples/s %.1f  ms/step %.3f  arena_peak %llu", s + 1,
                      lossOut ? jsonNumber(loss).c_str() : "-", sec > 0 ? global / sec : 0.0,
                      sec * 1e3, (unsigned long long)exec.measuredPeakBytes());
        std::string text = line;
        if (!lossScales.empty())
          text += "  loss_scale " + jsonNumber(lossScales.back());
        info(text);
        if (bar)
          progress(s + 1, opt.steps);
      }
    }
    samplesPerSec = totalSec > 0 ? double(global) * opt.steps / totalSec : 0;
  }

  if (!opt.saveParams.empty())
    saveParams(savedParams, opt.saveParams, exec, comm);

  if (!opt.metrics.empty()) {
    int64_t mine[2] = {int64_t(plan.plan.predicted_peak_bytes()),
                       int64_t(exec.measuredPeakBytes())};
    std::vector<int64_t> all(size_t(2 * world));
    comm.allGather(mine, all.data(), 2, ds::plan::I64);
    if (rank == 0) {
      std::vector<int64_t> pred, meas;
      for (int r = 0; r < world; ++r) {
        pred.push_back(all[size_t(2 * r)]);
        meas.push_back(all[size_t(2 * r + 1)]);
      }
      std::string json = "{\n  \"loss\": " + jsonList(losses) +
                         (lossScales.empty()
                              ? std::string()
                              : ",\n  \"loss_scale\": " + jsonList(lossScales)) +
                         ",\n  \"predicted_peak_bytes\": " + jsonList(pred) +
                         ",\n  \"measured_peak_bytes\": " + jsonList(meas) +
                         ",\n  \"arena_bytes\": " + std::to_string(plan.plan.arena_bytes()) +
                         ",\n  \"persistent_bytes\": " +
                         std::to_string(plan.plan.persistent_bytes()) +
                         ",\n  \"world_size\": " + std::to_string(world) +
                         ",\n  \"micro_batch\": " + std::to_string(mb) +
                         ",\n  \"gradient_accumulation_steps\": " +
                         std::to_string(plan.accumulationSteps) +
                         ",\n  \"ms_per_step\": " + jsonList(msPerStep) +
                         ",\n  \"samples_per_second\": " + jsonNumber(samplesPerSec) +
                         ",\n  \"backend\": \"" + exec.describe() + "\"" +
                         (cpuCheckPtr ? ",\n  \"kernel_mismatches\": " +
                                            std::to_string(verifier.mismatches()) +
                                            ",\n  \"instructions_verified\": " +
                                            std::to_string(verifier.checked())
                                      : std::string()) +
                         "\n}\n";
      writeFileAtomically(opt.metrics, json);
    }
  }
  comm.barrier();
  if (cpuCheckPtr) {
    int64_t bad = verifier.mismatches();
    comm.allReduce(&bad, &bad, 1, ds::plan::I64, ReduceOp::Sum);
    if (rank == 0)
      info("ds-run: verify-kernels: " + std::to_string(verifier.checked()) +
           " instructions checked on rank 0, " + std::to_string(bad) +
           " mismatching outputs on all ranks");
    return bad ? 3 : 0;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options opt = parseArgs(argc, argv);
  bool underMpi = launchedByMpi();
  try {
    if (opt.nproc > 1 && !underMpi)
      relaunch(argc, argv, opt.nproc);
    std::unique_ptr<Communicator> comm;
    if (underMpi) {
      comm = makeMpiCommunicator();
    } else {
      comm = makeSingleRankCommunicator();
    }
    gRank = comm->rank();
    gWorld = comm->size();
    if (opt.nproc > 0 && opt.nproc != gWorld)
      fail("--nproc ", opt.nproc, " does not match the ", gWorld, " ranks this job was started with");
    int rc;
    try {
      rc = runJob(opt, *comm);
    } catch (const SetupFailed &f) {
      // Every rank got here together: report (failing ranks only) and finalize cleanly.
      if (!f.message.empty())
        std::fprintf(stderr, "%s%s\n", prefix().c_str(), f.message.c_str());
      std::fflush(stderr);
      rc = 1;
    }
    comm.reset();
    if (underMpi)
      finalizeMpi();
    return rc;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s%s\n", prefix().c_str(), e.what());
    std::fflush(stderr);
    std::fflush(stdout);
    // Under MPI other ranks may be blocked in a collective: exit without MPI_Finalize so that
    // mpirun aborts the whole job instead of waiting for them.
    _exit(1);
  }
}
