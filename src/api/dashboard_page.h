// The dashboard's HTML: one self-contained page (inline CSS and JS, no external resources,
// since operators' machines may have no internet). Kept apart from the routes because it is
// long and is edited as a web page, not as C++.
#pragma once

#include <string_view>

namespace glmq {

std::string_view DashboardPage();

}  // namespace glmq
