#include "plots.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace dm2::sim {
namespace {

// Runs `script` with python3 as `script csv png title`.
int run_python(const std::string& script, const std::string& csv, const std::string& png, const std::string& title) {
  std::string script_path = png + ".py";
  std::ofstream(script_path) << script;
  std::string cmd = "/usr/bin/python3 '" + script_path + "' '" + csv + "' '" + png + "' '" + title + "'";
  int rc = std::system(cmd.c_str());
  std::remove(script_path.c_str());
  if (rc != 0) {
    std::cerr << "dm2-sim: plotting failed (needs python3-matplotlib)\n";
    return 3;
  }
  std::cerr << "dm2-sim: wrote " << png << "\n";
  return 0;
}

}  // namespace

int plot_time_series(const std::string& csv, const std::string& png, const std::string& title) {
  return run_python(R"PY(
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r["time_s"]) for r in rows]
fig, (a, b) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
a.plot(t, [int(r["sites_alive"]) for r in rows], label="sites alive", color="tab:green")
a.set_ylabel("sites alive")
a2 = a.twinx()
msgs = [int(r["messages"]) for r in rows]
rate = [0] + [(msgs[i] - msgs[i-1]) / max(t[i] - t[i-1], 1e-9) for i in range(1, len(msgs))]
a2.plot(t, rate, label="messages/s", color="tab:gray", alpha=0.6)
a2.set_ylabel("messages / s")
a.set_title(sys.argv[3])
a.legend(loc="upper left"); a2.legend(loc="upper right")
b.plot(t, [int(r["records_under_replicated"]) for r in rows], label="records under-replicated")
b.plot(t, [int(r["keys_under_shared"]) for r in rows], label="keys with < n live shares")
b.plot(t, [int(r["keys_unreadable"]) for r in rows], label="keys with < t live shares", color="tab:red")
b.set_yscale("symlog", linthresh=10)
b.set_xlabel("simulated time (s)"); b.set_ylabel("count (log above 10)"); b.legend(loc="upper right")
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)
)PY", csv, png, title);
}

int plot_query_cdf(const std::string& queries_csv, const std::string& png, const std::string& title) {
  return run_python(R"PY(
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
# One curve per fan-out in the file (one-to-all "all", "tree", or both side by side).
fanouts = sorted({r.get("fanout", "all") for r in rows})
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
for f in fanouts:
    mine = [r for r in rows if r.get("fanout", "all") == f]
    lat = sorted(int(r["latency_ms"]) for r in mine)
    comp = sorted(float(r["completeness"]) for r in mine)
    n = max(len(lat), 1)
    label = {"all": "one-to-all", "tree": "tree"}.get(f, f)
    a.step(lat, [(i + 1) / n for i in range(len(lat))], where="post", label=label)
    b.step(comp, [(i + 1) / n for i in range(len(comp))], where="post", label=label)
a.set_xlabel("query latency (ms, start to done)"); a.set_ylabel("fraction of queries")
a.set_title(sys.argv[3]); a.grid(alpha=0.3)
b.set_xlabel("completeness (expected hits returned)"); b.set_ylabel("fraction of queries")
b.set_title("%d queries" % len(rows)); b.grid(alpha=0.3)
if len(fanouts) > 1:
    a.legend(loc="lower right"); b.legend(loc="upper left")
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)
)PY", queries_csv, png, title);
}

}  // namespace dm2::sim
