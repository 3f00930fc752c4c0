// The dashboard's HTML: one self-contained page (inline CSS and JS, no external resources,
// since operators' machines may have no internet). Its sources are web files in
// src/api/dashboard/; the build puts them together (cmake/embed_dashboard.cmake) and defines
// this function.
#pragma once

#include <string_view>

namespace glmq {

std::string_view DashboardPage();

}  // namespace glmq
