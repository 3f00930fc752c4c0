#include "api/openapi.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

namespace glmq {
namespace {

using json = nlohmann::json;

// Every "$ref" under `node`, as written.
void CollectRefs(const json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) out.push_back(value.get<std::string>());
      CollectRefs(value, out);
    }
  } else if (node.is_array()) {
    for (const json& v : node) CollectRefs(v, out);
  }
}

TEST(OpenApiTest, TheDocumentIsWellFormed) {
  const json doc = json::parse(OpenApiDocument(), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << "not JSON";
  EXPECT_EQ(doc.value("openapi", ""), "3.0.3");
  ASSERT_TRUE(doc.contains("paths") && doc["paths"].is_object());

  std::vector<std::string> refs;
  CollectRefs(doc, refs);
  EXPECT_GT(refs.size(), 10u);
  for (const std::string& ref : refs) {
    ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
    EXPECT_TRUE(doc.contains(json::json_pointer(ref.substr(1)))) << "dangling " << ref;
  }

  const std::set<std::string> methods = {"get", "post", "put", "delete", "patch", "head"};
  std::set<std::string> operation_ids;
  const std::regex path_param(R"(\{([a-z_]+)\})");
  // Path parameters an item or an operation declares (directly or by $ref).
  auto path_params = [&doc](const json& holder) {
    std::set<std::string> names;
    for (const json& p : holder.value("parameters", json::array())) {
      const json& param = p.contains("$ref")
                              ? doc.at(json::json_pointer(p["$ref"].get<std::string>().substr(1)))
                              : p;
      if (param.value("in", "") == "path") names.insert(param.value("name", ""));
    }
    return names;
  };
  for (const auto& [path, item] : doc["paths"].items()) {
    const std::set<std::string> item_params = path_params(item);
    int operations = 0;
    for (const auto& [method, op] : item.items()) {
      if (!methods.count(method)) continue;
      ++operations;
      const std::string where = method + " " + path;
      EXPECT_TRUE(operation_ids.insert(op.value("operationId", "")).second)
          << where << ": operationId missing or used twice";
      ASSERT_TRUE(op.contains("responses")) << where;
      bool has_success = false;
      for (const auto& [status, response] : op["responses"].items()) {
        has_success = has_success || status[0] == '2';
      }
      EXPECT_TRUE(has_success) << where << " names no 2xx answer";
      std::set<std::string> names = path_params(op);
      names.insert(item_params.begin(), item_params.end());
      for (auto it = std::sregex_iterator(path.begin(), path.end(), path_param);
           it != std::sregex_iterator(); ++it) {
        EXPECT_TRUE(names.count((*it)[1])) << where << ": {" << (*it)[1] << "} is not declared";
      }
    }
    EXPECT_GT(operations, 0) << path;
  }
}

}  // namespace
}  // namespace glmq
