// SqliteStoreTest: a fixture holding a SQLite job store in a fresh temporary directory,
// removed with it, for tests of the parts above the store (admission, the insert batcher).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "store/sqlite_store.h"

namespace glmq {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "glmq_sqlite_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto opened = SqliteJobStore::Open((dir_ / "jobs.db").string(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteJobStore> store_;
};

}  // namespace glmq
