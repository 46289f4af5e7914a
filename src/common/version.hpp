#pragma once

namespace hokusai {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace hokusai
