// Fakes of the alert transports for unit tests: they record what would have been sent and
// answer from a script.
#pragma once

#include <deque>
#include <mutex>
#include <vector>

#include "alert/transport.h"

namespace glmq {

class FakeHttpTransport : public HttpTransport {
 public:
  Result<HttpPostResponse> Post(const HttpPostRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (script_.empty()) return HttpPostResponse{200, "{\"errcode\":0,\"code\":0}"};
    Result<HttpPostResponse> next = script_.front();
    script_.pop_front();
    return next;
  }

  // Answers the next calls with these, in order; then 200 with a zero errcode.
  void Script(Result<HttpPostResponse> answer) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(answer));
  }

  std::vector<HttpPostRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpPostRequest> requests_;
  std::deque<Result<HttpPostResponse>> script_;
};

class FakeMailTransport : public MailTransport {
 public:
  Status Send(const MailRequest& request) override {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    return Status::Ok();
  }
  std::vector<MailRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<MailRequest> requests_;
};

}  // namespace glmq
