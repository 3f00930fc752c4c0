// The grammar of OpenAI's JSON mode (`response_format` {"type":"json_object"}) in llama.cpp's
// GBNF: one JSON object (RFC 8259), then at most a little whitespace, then the end. A job's
// TokenSampler (engine/token_sampler.h) holds its answer to it: no token that cannot continue
// such an object is chosen, and the end of generation only once the object is closed.
//
// Whitespace between tokens is bounded (a space, or a newline and up to 20 spaces or tabs),
// as are a number's digits, so that a model held to it cannot pad forever; strings and
// nesting are not, and max_tokens cuts what runs on (finish_reason "length").
#pragma once

struct llama_sampler;
struct llama_vocab;

namespace glmq {

extern const char kJsonObjectGrammar[];

// A grammar sampler for kJsonObjectGrammar over this vocabulary; null if llama.cpp does
// not parse it.
llama_sampler* NewJsonObjectSampler(const llama_vocab* vocab);

}  // namespace glmq
