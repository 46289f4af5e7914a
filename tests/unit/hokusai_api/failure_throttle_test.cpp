#include "hokusai_api/failure_throttle.hpp"

#include <string>

#include <gtest/gtest.h>

namespace hokusai::hokusai_api {
namespace {

TEST(FailureThrottle, UnknownClientIsNotThrottled) {
  FailureThrottle throttle(60000, 16);
  EXPECT_FALSE(throttle.Throttled("10.0.0.1", 1000));
}

TEST(FailureThrottle, RefusedClientIsThrottledUntilTheLockoutEnds) {
  FailureThrottle throttle(60000, 16);
  throttle.MarkRefused("10.0.0.1", 1000);
  EXPECT_TRUE(throttle.Throttled("10.0.0.1", 1000));
  EXPECT_TRUE(throttle.Throttled("10.0.0.1", 60999));
  EXPECT_FALSE(throttle.Throttled("10.0.0.2", 2000));
  EXPECT_FALSE(throttle.Throttled("10.0.0.1", 61000));
}

TEST(FailureThrottle, ARefusalDuringTheLockoutExtendsIt) {
  FailureThrottle throttle(60000, 16);
  throttle.MarkRefused("10.0.0.1", 1000);
  throttle.MarkRefused("10.0.0.1", 50000);
  EXPECT_TRUE(throttle.Throttled("10.0.0.1", 100000));
}

TEST(FailureThrottle, StaysBoundedAndKeepsTheNewestClient) {
  FailureThrottle throttle(60000, 4);
  for (int i = 0; i < 100; ++i) throttle.MarkRefused("client-" + std::to_string(i), 1000);
  EXPECT_TRUE(throttle.Throttled("client-99", 1000));
  int throttled = 0;
  for (int i = 0; i < 100; ++i) {
    throttled += throttle.Throttled("client-" + std::to_string(i), 1000) ? 1 : 0;
  }
  EXPECT_LE(throttled, 4);
}

}  // namespace
}  // namespace hokusai::hokusai_api
