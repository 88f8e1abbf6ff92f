#pragma once

namespace dm2::node {
inline constexpr const char* version = DM2_VERSION;  // set by CMake from project(VERSION)
}
