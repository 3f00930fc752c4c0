// The helpers every Redis script of RedisJobStore starts with: key names, the job "member",
// events, the queue's indexes and their sums, listings and retention, and the writes of a new
// job. redis_scripts.cc puts it before each script's own body.
#pragma once

namespace glmq::redis {

// A job's "member" is its place in every sorted set that orders jobs: 16 digits of
// created_at, 12 of seq, ':' and the id, so that members with equal scores sort by arrival,
// and the id is the member from character 30 on.
extern const char kScriptPrelude[];

}  // namespace glmq::redis
