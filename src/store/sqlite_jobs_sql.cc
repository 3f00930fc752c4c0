#include "store/sqlite_jobs_sql.h"

#include "store/job_codec.h"

namespace glmq::jobs_sql {

Result<Job> ReadJob(const sqlite::Statement& row) {
  Job job;
  job.id = row.Text(0);
  std::optional<JobState> state = ParseJobState(row.Text(1));
  if (!state) return Internal("job " + job.id + " has unknown state '" + row.Text(1) + "'");
  job.state = *state;
  std::optional<LengthClass> length_class = ParseLengthClass(row.Text(2));
  if (!length_class) {
    return Internal("job " + job.id + " has unknown length class '" + row.Text(2) + "'");
  }
  job.length_class = *length_class;
  job.prompt_tokens = row.Int(3);
  job.order_key = row.Int(4);
  job.created_at = row.Int(5);
  job.started_at = row.Int(6);
  job.finished_at = row.Int(7);
  job.deadline_at = row.Int(8);
  job.estimated_wait_seconds = row.Double(9);
  job.attempts = static_cast<int32_t>(row.Int(10));
  job.cancel_requested = row.Int(11) != 0;
  job.dead_letter = row.Int(12) != 0;
  job.progress.prompt_tokens_read = row.Int(13);
  job.progress.completion_tokens = row.Int(14);
  job.finish_reason = row.Text(15);
  job.usage.prompt_tokens = row.Int(16);
  job.usage.completion_tokens = row.Int(17);
  job.error_code = row.Text(18);
  job.error_message = row.Text(19);
  GLMQ_RETURN_IF_ERROR(DecodeRequestParams(row.Text(20), &job.request));
  job.output = row.Text(21);
  if (job.state == JobState::kRunning) job.worker = row.Text(22);
  job.usage.cached_tokens = row.Int(23);
  job.tenant = row.Text(24);
  job.shared_prompt_tokens = row.Int(25);
  return job;
}

QueuedJob ReadQueuedJob(const sqlite::Statement& row, int first_column) {
  QueuedJob job;
  job.key.order_key = row.Int(first_column);
  job.key.created_at = row.Int(first_column + 1);
  job.key.seq = row.Int(first_column + 2);
  job.prompt_tokens = row.Int(first_column + 3);
  job.max_tokens = row.Int(first_column + 4);
  job.tenant = row.Text(first_column + 5);
  job.shared_prompt_tokens = row.Int(first_column + 6);
  return job;
}

Result<std::vector<std::pair<std::string, QueuedJob>>> ReadQueuedJobs(sqlite::Connection& db) {
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, db.Prepare(kSelectQueued));
  std::vector<std::pair<std::string, QueuedJob>> jobs;
  while (true) {
    GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    jobs.emplace_back(select.Text(0), ReadQueuedJob(select, 1));
  }
  return jobs;
}

Status ReadBody(const sqlite::Statement& row, int first_column, JobRequest* request) {
  GLMQ_RETURN_IF_ERROR(DecodeMessages(row.Text(first_column), &request->messages));
  request->text = row.Text(first_column + 1);
  return Status::Ok();
}

Result<std::optional<JobState>> ReadState(sqlite::Connection& db, const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, db.Prepare(kSelectState));
  select.BindText(1, id);
  GLMQ_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::optional<JobState>();
  std::optional<JobState> state = ParseJobState(select.Text(0));
  if (!state) return Internal("job " + id + " has unknown state '" + select.Text(0) + "'");
  return state;
}

Result<Job> ReadJobById(sqlite::Connection& db, const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, db.Prepare(kSelectJob));
  select.BindText(1, id);
  GLMQ_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return NotFound("no job " + id);
  return ReadJob(select);
}

Status NotRunning(sqlite::Connection& db, const std::string& id, const char* action) {
  GLMQ_ASSIGN_OR_RETURN(std::optional<JobState> state, ReadState(db, id));
  if (!state) return NotFound("no job " + id);
  if (*state == JobState::kRunning) {
    return Conflict(std::string("cannot ") + action + " job " + id +
                    ": its lease is held by another worker");
  }
  return Conflict(std::string("cannot ") + action + " job " + id + ": it is " +
                  JobStateName(*state));
}

}  // namespace glmq::jobs_sql
