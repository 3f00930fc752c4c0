// A TCP port on 127.0.0.1 that was free a moment ago, for tests that start servers.
#pragma once

#include <cstdint>

namespace glmq {

// Binds port 0, reads the port the kernel chose, closes; 0 when that fails. Another process
// may take the port before the caller binds it, so a caller retries with a new one.
uint16_t FreePort();

}  // namespace glmq
