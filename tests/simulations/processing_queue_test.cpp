// sim_network's per-site service queue (simulations/include/dm2/sim/processing.hpp): a site
// handles its messages one at a time, in arrival order, each for its kind's service time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dm2/sim/sim_network.hpp"

namespace dm2::dht {
namespace {

struct delivery {
  std::string to;
  long at_ms;
};

class processing_queue : public ::testing::Test {
 protected:
  // Sites "a", "b", "c" receive through handlers that note each delivery's time.
  void start(processing_costs costs) {
    sim_network_settings s;
    s.latency = millis(10);
    s.jitter = millis(0);
    s.tick_interval = millis(1000);
    s.processing = costs;
    net = std::make_unique<sim_network>(time, s);
    for (std::string site : {"a", "b", "c"}) {
      net->attach_handler(site, {[this, site](const std::string&, const message&) {
                                   log.push_back({site, static_cast<long>(time.now().count())});
                                 },
                                 {}});
      net->set_alive(site, true);
    }
  }
  std::vector<long> times_at(const std::string& site) const {
    std::vector<long> out;
    for (const auto& d : log)
      if (d.to == site) out.push_back(d.at_ms);
    return out;
  }
  manual_clock time;
  std::unique_ptr<sim_network> net;
  std::vector<delivery> log;
};

TEST_F(processing_queue, n_messages_arriving_at_once_finish_at_n_times_the_service_time) {
  start({.message_us = 2500});
  for (int i = 0; i < 8; ++i) net->send("a", "b", pull_request{});
  net->run_until(millis(1000));
  // They arrive together at 10 ms and are served one after the other, 2.5 ms each (delivered
  // at the end of their handling, rounded up to the clock's 1 ms).
  EXPECT_EQ(times_at("b"), (std::vector<long>{13, 15, 18, 20, 23, 25, 28, 30}));
  EXPECT_EQ(net->messages_delivered(), 8u);
}

TEST_F(processing_queue, each_site_has_its_own_queue_and_each_kind_its_cost) {
  start({.message_us = 1000, .store_us = 3000, .verify_us = 1500});
  record r{"a/1", 1, "a", "x"};
  net->send("a", "b", push_records{{r, r}});  // 1 ms + one commit 3 ms + 2 signatures × 1.5 ms
  net->send("a", "b", pull_request{});        // behind it: 1 ms more
  net->send("a", "c", pull_request{});        // another site: served at once
  net->run_until(millis(1000));
  EXPECT_EQ(times_at("b"), (std::vector<long>{17, 18}));
  EXPECT_EQ(times_at("c"), (std::vector<long>{11}));
}

TEST_F(processing_queue, a_site_that_goes_down_loses_its_queue_and_comes_back_idle) {
  start({.message_us = 5000});
  for (int i = 0; i < 4; ++i) net->send("a", "b", pull_request{});
  net->run_until(millis(16));  // the first is handled at 15 ms
  net->set_alive("b", false);
  net->set_alive("b", true);
  net->send("a", "b", pull_request{});  // arrives at 26 ms to an empty queue
  net->run_until(millis(1000));
  EXPECT_EQ(times_at("b"), (std::vector<long>{15, 31}));
}

TEST_F(processing_queue, without_costs_messages_are_delivered_on_arrival) {
  start({});
  for (int i = 0; i < 5; ++i) net->send("a", "b", pull_request{});
  net->run_until(millis(1000));
  EXPECT_EQ(times_at("b"), (std::vector<long>(5, 10)));
}

}  // namespace
}  // namespace dm2::dht
