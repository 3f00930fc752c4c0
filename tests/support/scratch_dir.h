// Scratch directories for tests, removed when the test program exits.
#pragma once

#include <string>

namespace glmq {

// A new directory $TMPDIR/PREFIX-XXXXXX (TMPDIR unset: /tmp); "" with a message on stderr when
// it cannot be made. It is removed with its contents when the test program exits, unless one
// of its tests failed or GLMQ_KEEP_TEST_DIRS is set: then it is kept, and its path printed, for
// whoever reads the failure.
std::string ScratchDir(const std::string& prefix);

}  // namespace glmq
