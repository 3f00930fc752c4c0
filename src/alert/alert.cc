#include "alert/alert.h"

namespace glmq {

const char* AlertSeverityName(AlertSeverity severity) {
  return severity == AlertSeverity::kCritical ? "critical" : "warning";
}

}  // namespace glmq
