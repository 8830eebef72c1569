// DeepSpeed's hostfile ("worker-1 slots=4") and --include/--exclude, mapped onto mpirun.
#include "ds/runtime/Hostfile.h"

#include "ds/runtime/Error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace ds::rt {

namespace {
std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    out.push_back(cur);
  if (!s.empty() && s.back() == sep)
    out.push_back("");
  return out;
}

int parseCount(const std::string &v, int lo, int hi) {
  if (v.empty() || v.size() > 6 || !std::all_of(v.begin(), v.end(), ::isdigit))
    return -1;
  int n = std::stoi(v);
  return n < lo || n > hi ? -1 : n;
}

/// "HOST[:a,b]@HOST" -> host -> slots (empty set: every slot of the host).
std::map<std::string, std::set<int>> parseSelection(const std::string &spec,
                                                    const std::string &flag) {
  std::map<std::string, std::set<int>> out;
  for (const std::string &part : split(spec, '@')) {
    std::string host = part, slots;
    size_t colon = part.find(':');
    if (colon != std::string::npos) {
      host = part.substr(0, colon);
      slots = part.substr(colon + 1);
    }
    if (host.empty())
      fail(flag, " '", spec, "': an empty host name (expected HOST[:SLOT,...]@HOST...)");
    if (out.count(host))
      fail(flag, " '", spec, "': host '", host, "' given twice");
    std::set<int> &s = out[host];
    if (colon != std::string::npos)
      for (const std::string &v : split(slots, ',')) {
        int n = parseCount(v, 0, 65535);
        if (n < 0)
          fail(flag, " '", spec, "': '", v, "' is not a slot index of host '", host, "'");
        s.insert(n);
      }
    if (colon != std::string::npos && s.empty())
      fail(flag, " '", spec, "': host '", host, "' has ':' but no slot indices");
  }
  return out;
}
} // namespace

std::vector<HostSlots> parseHostfileText(const std::string &text,
                                         const std::string &origin) {
  std::vector<HostSlots> hosts;
  std::set<std::string> seen;
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::string t = trim(line.substr(0, line.find('#')));
    if (t.empty())
      continue;
    std::istringstream words(t);
    std::string host, slots, extra;
    words >> host >> slots >> extra;
    std::string where = origin + ":" + std::to_string(lineNo) + ": ";
    if (slots.rfind("slots=", 0) != 0 || !extra.empty())
      fail(where, "expected 'HOSTNAME slots=N', got '", t, "'");
    int n = parseCount(slots.substr(6), 1, 65536);
    if (n < 0)
      fail(where, "slots must be a positive integer, got '", slots.substr(6), "'");
    if (!seen.insert(host).second)
      fail(where, "host '", host, "' is listed twice");
    HostSlots h{host, {}};
    for (int i = 0; i < n; ++i)
      h.slots.push_back(i);
    hosts.push_back(std::move(h));
  }
  if (hosts.empty())
    fail(origin, ": no hosts (expected lines 'HOSTNAME slots=N')");
  return hosts;
}

std::vector<HostSlots> parseHostfile(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    fail("--hostfile ", path, ": ", std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    fail("--hostfile ", path, ": not a regular file");
  if (st.st_size > (1 << 20))
    fail("--hostfile ", path, ": larger than 1 MiB");
  std::ifstream f(path);
  if (!f)
    fail("--hostfile ", path, ": cannot read it");
  std::stringstream ss;
  ss << f.rdbuf();
  return parseHostfileText(ss.str(), path);
}

std::vector<HostSlots> selectHosts(const std::vector<HostSlots> &hosts,
                                   const std::string &include,
                                   const std::string &exclude) {
  if (!include.empty() && !exclude.empty())
    fail("--include and --exclude are mutually exclusive (as in DeepSpeed's launcher)");
  if (include.empty() && exclude.empty())
    return hosts;
  bool inc = !include.empty();
  std::string flag = inc ? "--include" : "--exclude";
  std::map<std::string, std::set<int>> sel =
      parseSelection(inc ? include : exclude, flag);
  for (const auto &[host, slots] : sel) {
    auto it = std::find_if(hosts.begin(), hosts.end(),
                           [&](const HostSlots &h) { return h.host == host; });
    if (it == hosts.end())
      fail(flag, ": host '", host, "' is not in the hostfile");
    for (int s : slots)
      if (std::find(it->slots.begin(), it->slots.end(), s) == it->slots.end())
        fail(flag, ": host '", host, "' has no slot ", s, " (it has ", it->slots.size(),
             ")");
  }
  std::vector<HostSlots> out;
  for (const HostSlots &h : hosts) {
    auto it = sel.find(h.host);
    HostSlots kept{h.host, {}};
    for (int s : h.slots) {
      bool named = it != sel.end() && (it->second.empty() || it->second.count(s));
      if (named == inc)
        kept.slots.push_back(s);
    }
    if (!kept.slots.empty())
      out.push_back(std::move(kept));
  }
  if (out.empty())
    fail(flag, " leaves no slots to run on");
  return out;
}

std::string mpirunHostList(const std::vector<HostSlots> &hosts) {
  std::string s;
  for (const HostSlots &h : hosts)
    s += (s.empty() ? "" : ",") + h.host + ":" + std::to_string(h.slots.size());
  return s;
}

int totalSlots(const std::vector<HostSlots> &hosts) {
  int n = 0;
  for (const HostSlots &h : hosts)
    n += int(h.slots.size());
  return n;
}

} // namespace ds::rt
