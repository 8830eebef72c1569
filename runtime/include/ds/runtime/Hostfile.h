// DeepSpeed's hostfile and --include/--exclude host selection, for ds-run's launcher.
#pragma once

#include <string>
#include <vector>

namespace ds::rt {

struct HostSlots {
  std::string host;
  std::vector<int> slots; // the slot (device) indices used on this host
};

/// Parses DeepSpeed's hostfile format: one "HOSTNAME slots=N" per line, '#' comments and
/// blank lines ignored. Throws Error naming the file and line for anything else (a
/// missing or non-positive slots count, a host given twice); an empty result is an error
/// too.
std::vector<HostSlots> parseHostfile(const std::string &path);
/// Parses the same text (`origin` names it in messages).
std::vector<HostSlots> parseHostfileText(const std::string &text,
                                         const std::string &origin);

/// DeepSpeed's --include / --exclude: "HOST[:SLOT,SLOT...]@HOST..." (a host alone means
/// all its slots). At most one of them may be non-empty. Throws Error for an unknown host
/// or slot, or when nothing is left.
std::vector<HostSlots> selectHosts(const std::vector<HostSlots> &hosts,
                                   const std::string &include,
                                   const std::string &exclude);

/// mpirun's --host value: "host:N,host:N" (N = slots used on that host).
std::string mpirunHostList(const std::vector<HostSlots> &hosts);
/// Total ranks: the slots used on every host.
int totalSlots(const std::vector<HostSlots> &hosts);

} // namespace ds::rt
