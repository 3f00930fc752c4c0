// The schema of SqliteJobStore's database, and the migrations that bring an older file
// up to date. The version lives in PRAGMA user_version.
#pragma once

#include "core/status.h"
#include "store/sqlite_db.h"

namespace glmq::sqlite {

inline constexpr int kSchemaVersion = 7;

// Brings the database to kSchemaVersion in one transaction: a new file gets the whole
// schema, an older one each missing step. Fails, changing nothing, when the file was
// written by a newer glmq.
Status MigrateSchema(Connection& db);

}  // namespace glmq::sqlite
