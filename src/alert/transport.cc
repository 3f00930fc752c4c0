#include "alert/transport.h"

#include "net/curl.h"

namespace glmq {
namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;

class CurlHttpTransport : public HttpTransport {
 public:
  Result<HttpPostResponse> Post(const HttpPostRequest& request) override {
    net::HttpCall call;
    call.method = "POST";
    call.url = request.url;
    call.headers = request.headers;
    call.body = request.body;
    call.has_body = true;
    call.timeout_seconds = request.timeout_seconds > 0 ? request.timeout_seconds : 10;
    call.max_response_bytes = kMaxResponseBytes;
    call.user_agent = "glmq-alert";
    call.public_addresses_only = request.public_addresses_only;
    GLMQ_ASSIGN_OR_RETURN(net::HttpAnswer answer, net::Fetch(call));
    return HttpPostResponse{.status = answer.status, .body = std::move(answer.body)};
  }
};

class CurlMailTransport : public MailTransport {
 public:
  Status Send(const MailRequest& request) override { return net::SendMail(request); }
};

}  // namespace

std::shared_ptr<HttpTransport> MakeCurlHttpTransport() {
  return std::make_shared<CurlHttpTransport>();
}

std::shared_ptr<MailTransport> MakeCurlMailTransport() {
  return std::make_shared<CurlMailTransport>();
}

}  // namespace glmq
